"""COCO-18 keypoints (the OpenPose order) and the pose algebra The Pose Knows uses.

Arrays are (..., 18, 2) pixel coordinates (x, y), or (..., 18, 3) with a confidence last, as
OpenPose writes them. Velocity at step t is P_{t+1} - P_t per joint.

Everybody Dance Now's label maps also draw the face and both hands (carolineec/
EverybodyDanceNow data_prep/graph_train.py): the 'body_face_hands' layout is COCO-18, then the 8
face points its graphing draws by default (of OpenPose's 70: --num_face_keypoints 8), then
OpenPose's 21 points of the right hand and of the left hand: 18 + 8 + 21 + 21 = 68 points.
"""
from __future__ import annotations

import numpy as np

COCO18_NAMES = ("nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow",
                "l_wrist", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye",
                "l_eye", "r_ear", "l_ear")
JOINT = {name: i for i, name in enumerate(COCO18_NAMES)}
NUM_JOINTS = len(COCO18_NAMES)

# The 17 limbs OpenPose draws for COCO-18, as joint-index pairs.
LIMBS = tuple((JOINT[a], JOINT[b]) for a, b in (
    ("neck", "r_shoulder"), ("neck", "l_shoulder"), ("r_shoulder", "r_elbow"),
    ("r_elbow", "r_wrist"), ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"),
    ("neck", "r_hip"), ("r_hip", "r_knee"), ("r_knee", "r_ankle"), ("neck", "l_hip"),
    ("l_hip", "l_knee"), ("l_knee", "l_ankle"), ("neck", "nose"), ("nose", "r_eye"),
    ("r_eye", "r_ear"), ("nose", "l_eye"), ("l_eye", "l_ear")))

# Index permutation that swaps every left joint with its right twin (for horizontal flips).
MIRROR = tuple(JOINT[name.replace("r_", "#").replace("l_", "r_").replace("#", "l_")]
               for name in COCO18_NAMES)


# OpenPose's face points the authors' graph_train.py draws (renderface_sparse, 8 points): the
# nose bridge's top, the nose tip, the chin, the jaw's two upper ends, below the nose, the pupils.
SPARSE_FACE = (27, 30, 8, 0, 16, 33, 68, 69)
HAND_POINTS = 21  # OpenPose's (and MediaPipe's) hand: wrist, then 4 points per finger
# The hand's 20 bones as OpenPose draws them: along each finger, and the wrist to its base.
HAND_BONES = tuple(pair for base in (1, 5, 9, 13, 17)
                   for pair in ((0, base),) + tuple((k, k + 1) for k in range(base, base + 3)))
LAYOUTS = {"body": NUM_JOINTS, "body_face_hands": NUM_JOINTS + len(SPARSE_FACE) + 2 * HAND_POINTS}
FACE_START = NUM_JOINTS
RIGHT_HAND_START = FACE_START + len(SPARSE_FACE)
LEFT_HAND_START = RIGHT_HAND_START + HAND_POINTS
NUM_DETAILS = LAYOUTS["body_face_hands"] - NUM_JOINTS  # face + hands points after the body


def layout_of(num_points: int) -> str:
  """The layout of (..., num_points, 2|3) poses."""
  for name, count in LAYOUTS.items():
    if count == num_points:
      return name
  raise ValueError(f"poses with {num_points} points: expected {NUM_JOINTS} (COCO-18 body) or "
                   f"{LAYOUTS['body_face_hands']} (body, 8 face points, two hands)")


def with_layout(keypoints: np.ndarray, layout: str) -> np.ndarray:
  """(..., J, 3) poses in the given layout: 'body' keeps the first 18 points; 'body_face_hands'
  adds missing (confidence 0) face and hand points to a body-only pose."""
  keypoints = np.asarray(keypoints, np.float32)
  if layout not in LAYOUTS:
    raise ValueError(f"unknown pose layout {layout!r}; use one of {', '.join(LAYOUTS)}")
  have, want = keypoints.shape[-2], LAYOUTS[layout]
  if have >= want:
    return keypoints[..., :want, :]
  pad = np.zeros(keypoints.shape[:-2] + (want - have, keypoints.shape[-1]), np.float32)
  return np.concatenate([keypoints, pad], -2)


def confident_bounds(keypoints: np.ndarray, min_conf: float = 0.1) -> np.ndarray:
  """(..., 18, 3) -> (..., 4) (x0, y0, x1, y1) bounds of the joints with confidence >= min_conf;
  NaN where a pose has none. float64 (the crop sizes made from it round as they always have)."""
  keypoints = np.asarray(keypoints, np.float64)
  ok = keypoints[..., 2] >= min_conf
  xy = keypoints[..., :2]
  low = np.where(ok[..., None], xy, np.inf).min(-2)
  high = np.where(ok[..., None], xy, -np.inf).max(-2)
  bounds = np.concatenate([low, high], -1)
  return np.where(ok.any(-1)[..., None], bounds, np.nan)


def velocities(poses: np.ndarray) -> np.ndarray:
  """(T, J, 2) poses -> (T-1, J, 2) per-joint displacement between consecutive frames."""
  return np.diff(np.asarray(poses)[..., :2], axis=-3)


def integrate(start_pose: np.ndarray, velocity: np.ndarray) -> np.ndarray:
  """Inverse of `velocities`: P_0 = start_pose, P_{t+1} = P_t + Y_t. Returns (T+1, J, 2)."""
  start = np.asarray(start_pose)[..., :2]
  steps = np.cumsum(np.asarray(velocity), axis=-3)
  return np.concatenate([start[..., None, :, :], start[..., None, :, :] + steps], axis=-3)


def _mirror_details() -> tuple[int, ...]:
  face = [FACE_START + SPARSE_FACE.index(p) for p in (27, 30, 8, 16, 0, 33, 69, 68)]
  hands = (list(range(LEFT_HAND_START, LEFT_HAND_START + HAND_POINTS))
           + list(range(RIGHT_HAND_START, RIGHT_HAND_START + HAND_POINTS)))
  return tuple(face + hands)


MIRROR_FACE_HANDS = MIRROR + _mirror_details()


def flip_horizontal(keypoints: np.ndarray, width: int) -> np.ndarray:
  """Mirror keypoints in an image of `width` pixels: x -> width - 1 - x, left <-> right."""
  keypoints = np.asarray(keypoints)
  mirror = MIRROR if keypoints.shape[-2] == NUM_JOINTS else MIRROR_FACE_HANDS
  out = np.array(keypoints, dtype=np.float32, copy=True)[..., mirror, :]
  out[..., 0] = (width - 1) - out[..., 0]
  return out


# COCO-18 joint -> MediaPipe landmark (neck is computed).
MEDIAPIPE_TO_COCO18 = {
    "nose": 0, "r_shoulder": 12, "r_elbow": 14, "r_wrist": 16, "l_shoulder": 11, "l_elbow": 13,
    "l_wrist": 15, "r_hip": 24, "r_knee": 26, "r_ankle": 28, "l_hip": 23, "l_knee": 25,
    "l_ankle": 27, "r_eye": 5, "l_eye": 2, "r_ear": 8, "l_ear": 7}


def landmarks_to_coco18(landmarks: np.ndarray) -> np.ndarray:
  """(33, 3) MediaPipe (x_px, y_px, visibility) -> (18, 3) COCO-18 (x_px, y_px, confidence)."""
  out = np.zeros((NUM_JOINTS, 3), np.float32)
  for name, index in MEDIAPIPE_TO_COCO18.items():
    out[JOINT[name]] = landmarks[index]
  out[JOINT["neck"], :2] = (landmarks[11, :2] + landmarks[12, :2]) / 2
  out[JOINT["neck"], 2] = min(landmarks[11, 2], landmarks[12, 2])
  return out
