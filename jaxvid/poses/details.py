"""The face and hand points of Everybody Dance Now's label maps, from MediaPipe Holistic.

The authors draw 8 of OpenPose's face points and both hands' 21 points over the body (poses/
keypoints.py, layout 'body_face_hands'). MediaPipe's pose model gives only a few such points
(mouth corners, three points a hand); its Holistic model, in the same wheel, gives the face mesh
(468 points) and 21 points a hand in OpenPose's hand order. It runs here as a second pass over
a video whose body is already tracked (poses/track.py): on a square crop around the followed
person each frame, so nobody else's face or hands enter, and each hand found is given to the
body wrist it is nearest to (a hand far from both wrists is dropped). MediaPipe gives no
per-point confidence for the face and hands: found points get 1, missing ones 0.
"""
from __future__ import annotations

import numpy as np

from jaxvid.poses import keypoints as kp

# Face-mesh points standing for OpenPose's 8 sparse face points (keypoints.SPARSE_FACE, in that
# order): between the eyes (168), nose tip (1), chin (152), the jaw's upper ends at the ears'
# height (the person's right 234, left 454), below the nose (2), and each pupil as the middle
# of its eye's corners (right 33/133, left 362/263).
FACEMESH_SPARSE = ((168,), (1,), (152,), (234,), (454,), (2,), (33, 133), (362, 263))
CROP_SIZE = 512  # pixels of the square crop Holistic sees (a small person is enlarged)
MAX_WRIST_DISTANCE = 0.25  # a hand's wrist this far from the body's (share of the crop): dropped


def face_points(mesh: np.ndarray) -> np.ndarray:
  """(468+, 2) face-mesh points -> (8, 2) OpenPose sparse face points."""
  return np.stack([mesh[list(ids)].mean(0) for ids in FACEMESH_SPARSE]).astype(np.float32)


def assign_hands(hands: list[np.ndarray], body: np.ndarray, reach: float) -> np.ndarray:
  """Hands found ((21, 2) pixels each) -> (42, 3) right hand then left, each given to the
  confident body wrist (COCO-18) nearest its own wrist point, within `reach` pixels."""
  out = np.zeros((2 * kp.HAND_POINTS, 3), np.float32)
  wrists = [body[kp.JOINT["r_wrist"]], body[kp.JOINT["l_wrist"]]]
  taken: dict[int, float] = {}
  for hand in hands:
    distances = [np.hypot(*(hand[0] - w[:2])) if w[2] >= 0.1 else np.inf for w in wrists]
    side = int(np.argmin(distances))
    if distances[side] > reach or distances[side] >= taken.get(side, np.inf):
      continue
    taken[side] = distances[side]
    out[side * kp.HAND_POINTS:(side + 1) * kp.HAND_POINTS] = np.concatenate(
        [hand, np.ones((kp.HAND_POINTS, 1), np.float32)], -1)
  return out


class DetailExtractor:
  """MediaPipe Holistic on a crop around a tracked body: (18, 3) body -> (50, 3) face + hands."""

  def __init__(self, mediapipe):
    """`mediapipe`: the module (poses/extract.py loads it, with its install check)."""
    self._model = mediapipe.solutions.holistic.Holistic(static_image_mode=False,
                                                        model_complexity=1)

  def close(self) -> None:
    self._model.close()

  def frame(self, frame: np.ndarray, body: np.ndarray) -> np.ndarray:
    import cv2
    out = np.zeros((kp.NUM_DETAILS, 3), np.float32)
    ok = body[:, 2] >= 0.1
    if ok.sum() < 4:
      return out
    low, high = body[ok, :2].min(0), body[ok, :2].max(0)
    side = max(float((high - low).max()) * 1.3, 32.0)
    x0, y0 = (low + high) / 2 - side / 2
    scale = CROP_SIZE / side
    matrix = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
    crop = cv2.warpAffine(frame, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR)
    result = self._model.process(np.ascontiguousarray(crop))
    to_frame = lambda lms: (np.array([(l.x, l.y) for l in lms.landmark], np.float32)
                            * CROP_SIZE / scale + np.array([x0, y0], np.float32))
    if result.face_landmarks is not None:
      out[:len(kp.SPARSE_FACE), :2] = face_points(to_frame(result.face_landmarks))
      out[:len(kp.SPARSE_FACE), 2] = 1.0
    hands = [to_frame(h) for h in (result.left_hand_landmarks, result.right_hand_landmarks)
             if h is not None]
    out[len(kp.SPARSE_FACE):] = assign_hands(hands, body, MAX_WRIST_DISTANCE * side)
    return out

  def video(self, frames, bodies: np.ndarray, progress=None) -> np.ndarray:
    """Frames (an iterable of RGB uint8) and their tracked bodies (T, 18, 3) -> (T, 50, 3)."""
    out = np.zeros((len(bodies), kp.NUM_DETAILS, 3), np.float32)
    for t, frame in enumerate(frames):
      if t >= len(bodies):
        break
      out[t] = self.frame(frame, bodies[t])
      if progress:
        progress.update(1)
    return out
