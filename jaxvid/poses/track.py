"""One person through a whole video, when several are in view.

MediaPipe's pose model (the one offline here) finds one person per image, whichever it locks
onto: with two dancers in view the poses jump between them. This follows one person instead:

- **Who.** In the first frame where anyone is found, every person is found (the model on the
  whole frame, then on crops of a grid at two scales, duplicates merged), and the one followed
  is the largest fully visible person; or, given a point, the person whose box holds it, from
  the first frame (searched every few frames) where someone does.
- **Where next.** Each frame, the model runs on a square crop around where that person was
  (moved by their last motion); a detection counts only if its hips are near the expected place
  (a gate of a fraction of the body's size, never above a quarter of the frame's width) and
  its clothes look like the person's (the torso's colour histogram against the one learned at
  the start: another person walking through the crop is refused). Where they are is their
  confidently seen neck, shoulders and hips (`anchor`).
- **Lost.** After a few frames without the person, the whole frame is searched again and the
  candidate most like them (clothes, then distance) is taken, within a gate that grows with the
  frames missed.

Frames where the person is not found are misses (confidence 0), which the extractor's gap
filling and EDN's temporal median treat as such: detections of anyone else never enter.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from jaxvid.errors import UserError
from jaxvid.poses.keypoints import JOINT, landmarks_to_coco18

MIN_CONF = 0.3  # a joint counts as seen
LOST_AFTER = 3  # misses before the whole frame is searched again
SEARCH_EVERY = 5  # while lost: frames between whole-frame searches (each ~100 model runs)
# Torso colour histograms (Bhattacharyya coefficient, 1 = the same): the person frame to frame,
# where the motion gate already holds (measured on the real two-person clip: 0.9-0.98 for the
# followed man, 0.0-0.63 for the woman beside him, 0.55-0.7 for the man of a 176x144 car
# clip), and once lost, to take them back with no gate to help.
MIN_LIKENESS = 0.4
MIN_LIKENESS_LOST = 0.75
GATE = 0.45  # hips may move this share of the body's height per frame, x1.5 per missed frame
MAX_GATE_GROWTH = 3  # ... for at most this many missed frames (a lost person is not anywhere)
MAX_GATE_WIDTH = 0.25  # ... and never more than this share of the frame's width
MAX_EXTRAPOLATED = 3  # frames the last motion carries the expected place on
_TORSO = [JOINT[j] for j in ("r_shoulder", "l_shoulder", "r_hip", "l_hip")]
_HIPS = [JOINT["r_hip"], JOINT["l_hip"]]


@dataclasses.dataclass(frozen=True)
class Choice:
  """Whom to follow: the person whose box holds `point` ((x, y) pixels of the video's frames, as
  displayed) in the first frame where anyone's does, or with no point the largest fully
  visible person in the first frame where anyone is found."""
  point: tuple[float, float] | None = None

  @staticmethod
  def parse(text: str, flag: str = "--person") -> "Choice":
    """'largest', or 'X,Y' in pixels of the video's frames."""
    text = (text or "largest").strip().lower()
    if text == "largest":
      return Choice()
    try:
      x, y = (float(v) for v in text.split(","))
    except ValueError as e:
      raise UserError(f"{flag}={text!r}: use 'largest' or X,Y (pixels of the video's frame "
                      f"where the person stands, e.g. 640,360)") from e
    if not (np.isfinite(x) and np.isfinite(y)):
      raise UserError(f"{flag}={text!r}: X and Y must be numbers")
    return Choice((x, y))

  def describe(self) -> str:
    return "the largest fully visible person" if self.point is None else \
        f"the person at ({self.point[0]:g}, {self.point[1]:g})"


_CORE = [JOINT[j] for j in ("neck", "r_shoulder", "l_shoulder", "r_hip", "l_hip")]


def anchor(keypoints: np.ndarray) -> np.ndarray | None:
  """Where the person is, for following them: the mean of their confidently seen neck,
  shoulders and hips (the model guesses hips out of view with low confidence: a waist-up video
  is placed by its shoulders), else of every seen joint."""
  core = keypoints[_CORE]
  sure = core[core[:, 2] >= 0.5]
  if len(sure) >= 2:
    return sure[:, :2].mean(0)
  seen = keypoints[keypoints[:, 2] >= MIN_CONF]
  return seen[:, :2].mean(0) if len(seen) >= 4 else None


def hip_centre(keypoints: np.ndarray) -> np.ndarray | None:
  hips = keypoints[_HIPS]
  if (hips[:, 2] >= MIN_CONF).all():
    return hips[:, :2].mean(0)
  seen = keypoints[keypoints[:, 2] >= MIN_CONF]
  return seen[:, :2].mean(0) if len(seen) >= 4 else None


def body_height(keypoints: np.ndarray) -> float:
  """The person's size: the height their seen joints span, or 2.5 shoulder widths where that
  is more (a person seen from the waist up)."""
  seen = keypoints[keypoints[:, 2] >= MIN_CONF, 1]
  height = float(seen.max() - seen.min()) if len(seen) >= 2 else 0.0
  shoulders = keypoints[[JOINT["r_shoulder"], JOINT["l_shoulder"]]]
  if (shoulders[:, 2] >= MIN_CONF).all():
    height = max(height, 2.5 * float(np.linalg.norm(shoulders[0, :2] - shoulders[1, :2])))
  return height


def torso_histogram(frame: np.ndarray, keypoints: np.ndarray) -> np.ndarray | None:
  """The colours of the torso's inner part (hue x saturation x value, 8 x 4 x 4 bins,
  normalised): between shoulders and hips, or below the shoulders where the hips are out of
  view (a person filmed from the waist up); None where the shoulders are not seen."""
  torso = keypoints[_TORSO]
  ok = torso[:, 2] >= MIN_CONF
  if ok.sum() >= 3:
    lo, hi = torso[ok, :2].min(0), torso[ok, :2].max(0)
  elif ok[:2].all():  # the chest: a square under the shoulder line
    span = abs(torso[1, 0] - torso[0, 0])
    lo = np.array([min(torso[0, 0], torso[1, 0]), min(torso[0, 1], torso[1, 1])])
    hi = lo + np.array([span, 0.8 * span])
  else:
    return None
  centre, half = (lo + hi) / 2, np.maximum((hi - lo) * 0.3, 2.0)
  h, w = frame.shape[:2]
  x0, y0 = np.clip((centre - half).astype(int), 0, [w - 1, h - 1])
  x1, y1 = np.clip((centre + half).astype(int) + 1, 1, [w, h])
  if x1 <= x0 or y1 <= y0:
    return None
  hsv = np.asarray(Image.fromarray(frame[y0:y1, x0:x1]).convert("HSV")).reshape(-1, 3)
  bins = (hsv[:, 0] // 32) * 16 + (hsv[:, 1] // 64) * 4 + hsv[:, 2] // 64
  histogram = np.bincount(bins.astype(int), minlength=128).astype(np.float64)
  return histogram / max(histogram.sum(), 1.0)


def likeness(a: np.ndarray | None, b: np.ndarray | None) -> float:
  if a is None or b is None:
    return 0.0
  return float(np.sqrt(a * b).sum())


def _box(keypoints: np.ndarray) -> np.ndarray | None:
  seen = keypoints[keypoints[:, 2] >= MIN_CONF, :2]
  if len(seen) < 4:
    return None
  return np.concatenate([seen.min(0), seen.max(0)])


def find_people(extractor, frame: np.ndarray) -> list[np.ndarray]:
  """Every person the model finds in `frame` ((18, 3) COCO-18 keypoints each): on the whole
  frame, then on a grid of crops at two scales; a detection whose hips lie within a third of
  a body's height of one already found is the same person (the better seen is kept)."""
  found = []
  candidates = [extractor.still_landmarks(frame)]
  h, w = frame.shape[:2]
  for side in (h * 0.75, h / 2):
    step = side / 2
    for cy in np.arange(side / 2, h - side / 2 + 1, step):
      for cx in np.arange(side / 2, w - side / 2 + 1, step):
        candidates.append(extractor.landmarks_on_crop(frame, (cx, cy), side * 1.25))
  for lm in candidates:
    if lm is None:
      continue
    kp = landmarks_to_coco18(lm)
    centre = anchor(kp)
    if centre is None:
      continue
    for i, other in enumerate(found):
      other_centre = anchor(other)
      if np.linalg.norm(centre - other_centre) < max(body_height(other), 8.0) / 3:
        if (kp[:, 2] >= MIN_CONF).sum() > (other[:, 2] >= MIN_CONF).sum():
          found[i] = kp
        break
    else:
      found.append(kp)
  return found


def _covers(keypoints: np.ndarray, point, margin: float = 0.15) -> bool:
  """Whether `point` lies in the person's box, grown by `margin` of its height each way."""
  box = _box(keypoints)
  if box is None:
    return False
  pad = margin * (box[3] - box[1])
  return box[0] - pad <= point[0] <= box[2] + pad and box[1] - pad <= point[1] <= box[3] + pad


def _fully_visible(keypoints: np.ndarray) -> float:
  return float((keypoints[:, 2] >= MIN_CONF).mean())


def choose(people: list[np.ndarray], choice: Choice) -> int:
  """The index of the person to follow among `people`."""
  if choice.point is not None:
    point = np.asarray(choice.point)

    def distance(kp):
      box = _box(kp)
      inside = box is not None and box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]
      return (0 if inside else 1, float(np.linalg.norm(anchor(kp) - point)))
    return min(range(len(people)), key=lambda i: distance(people[i]))
  # the largest among the (nearly) fully visible; the best seen if nobody is
  visible = [i for i, kp in enumerate(people) if _fully_visible(kp) >= 0.85] or \
      [max(range(len(people)), key=lambda i: _fully_visible(people[i]))]
  return max(visible, key=lambda i: body_height(people[i]))


class PersonTracker:
  """Follows one person (module doc) with an extractor's model runs (`still_landmarks`,
  `landmarks_on_crop`): `frame(image) -> (18, 3) keypoints or None` per frame in order."""

  def __init__(self, extractor, choice: Choice = Choice()):
    self.extractor, self.choice = extractor, choice
    self.reference = None  # the followed person's torso colours
    self.last = None  # (keypoints, hip centre, velocity) where last seen
    self.missed = 0
    self.people_at_start = 0
    self.started_at = None  # the frame index the person was chosen in
    self.index = -1
    self.description = ""

  def frame(self, image: np.ndarray) -> np.ndarray | None:
    self.index += 1
    if self.reference is None:
      return self._start(image)
    kp = self._near_last(image)
    if kp is None and self.missed + 1 >= LOST_AFTER and \
        (self.missed + 1 - LOST_AFTER) % SEARCH_EVERY == 0:
      kp = self._search(image)
    if kp is None:
      self.missed += 1
      return None
    self._seen(image, kp)
    return kp

  def _start(self, image: np.ndarray) -> np.ndarray | None:
    if self.index % SEARCH_EVERY and self.index > 0:  # each search is ~100 model runs
      return None
    people = find_people(self.extractor, image)
    if self.choice.point is not None:  # the person at the point, from the frame they are in
      people = [kp for kp in people if _covers(kp, self.choice.point)]
    if not people:
      return None
    chosen = people[choose(people, self.choice)]
    self.people_at_start, self.started_at = len(people), self.index
    box = _box(chosen)
    self.description = (f"{len(people)} {'person' if len(people) == 1 else 'people'} in view at "
                        f"frame {self.index}; following {self.choice.describe()}: box x "
                        f"{box[0]:.0f}..{box[2]:.0f}, y {box[1]:.0f}..{box[3]:.0f} px")
    self.reference = torso_histogram(image, chosen)
    if self.reference is None:  # torso hidden: the whole body's box stands in
      self.reference = np.full(128, 1 / 128)
    self.last = (chosen, anchor(chosen), np.zeros(2))
    return chosen

  def _gate(self, image_width: int) -> float:
    height = max(body_height(self.last[0]), 16.0)
    growth = 1.5 ** min(self.missed, MAX_GATE_GROWTH)
    return min(GATE * height * growth, MAX_GATE_WIDTH * image_width)

  def _expected(self) -> np.ndarray:
    return self.last[1] + self.last[2] * min(self.missed + 1, MAX_EXTRAPOLATED)

  def _accept(self, image: np.ndarray, kp: np.ndarray | None) -> bool:
    if kp is None:
      return False
    centre = anchor(kp)
    if centre is None:
      return False
    if np.linalg.norm(centre - self._expected()) > self._gate(image.shape[1]):
      return False
    least = MIN_LIKENESS_LOST if self.missed >= LOST_AFTER else MIN_LIKENESS
    return likeness(torso_histogram(image, kp), self.reference) >= least

  def _near_last(self, image: np.ndarray) -> np.ndarray | None:
    box = _box(self.last[0])
    shift = self._expected() - self.last[1]
    centre = (box[:2] + box[2:]) / 2 + shift
    side = 1.6 * max(box[2] - box[0], box[3] - box[1], 16.0) * (1.25 ** min(self.missed, 4))
    lm = self.extractor.landmarks_on_crop(image, centre, side)
    kp = landmarks_to_coco18(lm) if lm is not None else None
    if self._accept(image, kp):
      return kp
    # the model on the whole frame, which finds a large person the crop cut (a lunge, a jump):
    # taken only through the same gate and colour check
    lm = self.extractor.still_landmarks(image)
    kp = landmarks_to_coco18(lm) if lm is not None else None
    return kp if self._accept(image, kp) else None

  def _search(self, image: np.ndarray) -> np.ndarray | None:
    candidates = [kp for kp in find_people(self.extractor, image) if self._accept(image, kp)]
    if not candidates:
      return None
    return max(candidates, key=lambda kp: likeness(torso_histogram(image, kp), self.reference))

  def _seen(self, image: np.ndarray, kp: np.ndarray) -> None:
    centre = anchor(kp)
    velocity = (centre - self.last[1]) / (self.missed + 1)
    self.last = (kp, centre, 0.5 * self.last[2] + 0.5 * velocity)
    self.missed = 0
    colours = torso_histogram(image, kp)
    if colours is not None:  # light changes slowly: the reference follows, slowly
      self.reference = 0.95 * self.reference + 0.05 * colours
