"""EDN's pose distance: re-detect the pose in generated frames and compare it with the pose the
frames were generated from.

Frames are upscaled (nearest) so their shorter side is >= 256 px before detection (MediaPipe
needs a reasonably large person); keypoints are mapped back to the frame's pixels. Distance =
mean L2 (pixels) over the joints confident (>= min_conf) in both poses, averaged over the frames
where a person was detected; frames without a detection are counted as missed.
"""
from __future__ import annotations

import numpy as np

from jaxvid.poses.extract import PoseExtractor, landmarks_to_coco18


def pose_distance(frames_uint8: np.ndarray, target_keypoints: np.ndarray, extractor=None,
                  min_conf: float = 0.5) -> dict:
  """frames (N, H, W, 3) uint8, target keypoints (N, 18, 3) px -> {'distance', 'missed', 'frames'}."""
  own = extractor is None
  extractor = extractor or PoseExtractor(max_gap=0)
  height, width = frames_uint8.shape[1:3]
  factor = max(1, int(np.ceil(256 / min(height, width))))
  distances, missed = [], 0
  try:
    for frame, target in zip(frames_uint8, target_keypoints):
      big = frame.repeat(factor, 0).repeat(factor, 1)
      found = extractor.still_landmarks(big)  # each frame on its own: no tracking
      if found is None:
        missed += 1
        continue
      kp = landmarks_to_coco18(found)
      kp[:, :2] = (kp[:, :2] + 0.5) / factor - 0.5
      both = (kp[:, 2] >= min_conf) & (target[:, 2] >= min_conf)
      if both.any():
        distances.append(float(np.linalg.norm(kp[both, :2] - target[both, :2], axis=-1).mean()))
      else:
        missed += 1
  finally:
    if own:
      extractor.close()
  return {"distance": float(np.mean(distances)) if distances else float("nan"),
          "missed": missed, "frames": len(frames_uint8)}
