"""COCO-18 keypoints (the OpenPose order) and the pose algebra The Pose Knows uses.

Arrays are (..., 18, 2) pixel coordinates (x, y), or (..., 18, 3) with a confidence last, as
OpenPose writes them. Velocity at step t is P_{t+1} - P_t per joint.
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


def flip_horizontal(keypoints: np.ndarray, width: int) -> np.ndarray:
  """Mirror keypoints in an image of `width` pixels: x -> width - 1 - x, left <-> right."""
  out = np.array(keypoints, dtype=np.float32, copy=True)[..., MIRROR, :]
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
