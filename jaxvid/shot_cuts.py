"""Shot cuts in a video, found frame by frame from colour histograms.

A montage's clip must never jump between shots (VGAN would learn the jump as motion). The
maintained detector, PySceneDetect, requires `opencv-python`, which would install a second
OpenCV beside the `opencv-python-headless` jaxvid has; this is the short detector for hard
cuts its content detector is built on, written here: each frame's HSV histogram (on a small
copy of the frame) against the previous frame's, by the Bhattacharyya distance; a cut is a
distance both above `threshold` and `ratio` times the median of the recent distances (so a
fast pan, whose every frame differs, is not cut at every frame), and at least
`min_shot_frames` after the last cut (PySceneDetect's min_scene_len: a flash or a lens flare
that comes and goes is not two cuts). Gradual transitions (fades, dissolves) are not detected.
The threshold's margin on real footage is in docs/data.md.
"""
from __future__ import annotations

import collections

import numpy as np

SMALL = (64, 36)  # the frame's copy the histogram is taken on (width, height)


def histogram(frame: np.ndarray) -> np.ndarray:
  """An RGB uint8 frame -> its normalised HSV histogram (16 hues x 8 x 8)."""
  import cv2
  small = cv2.resize(np.ascontiguousarray(frame), SMALL, interpolation=cv2.INTER_AREA)
  hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
  hist = cv2.calcHist([hsv], [0, 1, 2], None, [16, 8, 8], [0, 180, 0, 256, 0, 256])
  return cv2.normalize(hist, hist).flatten()


class CutDetector:
  """Feed frames in order; `is_cut(frame)` is True on the first frame of each new shot."""

  def __init__(self, threshold: float = 0.5, ratio: float = 2.0, window: int = 12,
               min_shot_frames: int = 15):
    self.threshold, self.ratio, self.min_shot_frames = threshold, ratio, min_shot_frames
    self._recent = collections.deque(maxlen=window)
    self._previous = None
    self._since_cut = min_shot_frames  # frames since the last cut (the start counts as one)

  def is_cut(self, frame: np.ndarray) -> bool:
    import cv2
    hist = histogram(frame)
    previous, self._previous = self._previous, hist
    self._since_cut += 1
    if previous is None:
      self._since_cut = 0
      return False
    distance = cv2.compareHist(previous, hist, cv2.HISTCMP_BHATTACHARYYA)
    usual = float(np.median(self._recent)) if self._recent else 0.0
    cut = (distance > self.threshold and distance > self.ratio * usual
           and self._since_cut >= self.min_shot_frames)
    if cut:
      self._since_cut = 0
    else:
      self._recent.append(distance)
    return cut


def find_cuts(frames) -> list[int]:
  """The indices of the frames that start a new shot (the first frame's shot not counted)."""
  detector = CutDetector()
  return [i for i, frame in enumerate(frames) if detector.is_cut(frame)]
