"""EDN's baseline: nearest-neighbour frame retrieval by pose.

For each query pose the training frame of the target person whose pose is closest is returned.
Poses are compared after moving the neck to the origin (the same person, so no scale change):
mean L2 over the joints confident in both poses.
"""
from __future__ import annotations

import numpy as np

from jaxvid.poses.keypoints import JOINT


def _centred(keypoints: np.ndarray) -> np.ndarray:
  return keypoints[..., :2] - keypoints[..., JOINT["neck"]:JOINT["neck"] + 1, :2]


class PoseRetrieval:
  def __init__(self, bank_keypoints: np.ndarray, bank_frames: np.ndarray, min_conf: float = 0.1):
    """bank_keypoints (N, 18, 3) px, bank_frames (N, H, W, 3): the target's training frames."""
    if len(bank_keypoints) != len(bank_frames) or not len(bank_frames):
      raise ValueError(f"retrieval bank needs as many frames as poses (>0): "
                       f"{len(bank_keypoints)} poses, {len(bank_frames)} frames")
    self.poses = _centred(np.asarray(bank_keypoints, np.float32))
    self.conf = np.asarray(bank_keypoints)[..., 2] >= min_conf
    self.frames = bank_frames
    self.min_conf = min_conf

  def nearest(self, keypoints: np.ndarray) -> np.ndarray:
    """(Q, 18, 3) query poses -> (Q,) indices of the nearest bank frames."""
    q = _centred(np.asarray(keypoints, np.float32))
    q_conf = np.asarray(keypoints)[..., 2] >= self.min_conf
    out = []
    for pose, conf in zip(q, q_conf):
      both = self.conf & conf[None]
      dist = np.linalg.norm(self.poses - pose[None], axis=-1)
      mean = (dist * both).sum(-1) / np.maximum(both.sum(-1), 1)
      mean[both.sum(-1) == 0] = np.inf
      out.append(int(np.argmin(mean)))
    return np.asarray(out)

  def retrieve(self, keypoints: np.ndarray) -> np.ndarray:
    return self.frames[self.nearest(keypoints)]
