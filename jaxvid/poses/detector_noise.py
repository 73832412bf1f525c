"""Poses as a detector gives them: true keypoints with a detector's errors added.

Everybody Dance Now's temporal smoothing and temporal model exist for the flicker that pose
*detection* puts into a source's poses; the synthetic dancer's true keypoints have none. This
model adds, per frame and independently over time (what makes a figure flicker):
  - the whole person missed with probability `frame_miss` (every confidence 0);
  - joint j missed (confidence 0) with probability `joint_miss[j]`;
  - left and right labels swapped with probability `swap` (the whole skeleton);
  - Gaussian jitter of standard deviation `jitter[j]` x the person's height on x and y.
The rates come from MediaPipe (jaxvid.poses.extract, as `python -m jaxvid.extract` runs it) on
rendered synthetic-dancer clips against their true keypoints
(`python -m experiments.detector_noise_rates`, numbers in MEDIAPIPE_DANCER_64 below): the
frame-to-frame change of each joint's error gives the jitter (std of the change / sqrt 2, after
the per-frame better of the two left/right labellings), the share of frames without a
detection, a joint below confidence 0.1, and where the swapped labelling fits better.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from jaxvid.poses.keypoints import MIRROR, NUM_JOINTS, confident_bounds


@dataclasses.dataclass(frozen=True)
class DetectorNoise:
  frame_miss: float
  joint_miss: tuple[float, ...]  # per COCO-18 joint
  jitter: tuple[float, ...]  # per joint, std as a fraction of the person's height
  swap: float

  def __post_init__(self):
    if len(self.joint_miss) != NUM_JOINTS or len(self.jitter) != NUM_JOINTS:
      raise ValueError(f"joint_miss and jitter need {NUM_JOINTS} values (COCO-18)")
    rates = (self.frame_miss, self.swap, *self.joint_miss)
    if not all(0 <= r <= 1 for r in rates) or min(self.jitter) < 0:
      raise ValueError("rates must be in [0, 1] and jitter >= 0")


def extent_heights(keypoints: np.ndarray, min_conf: float = 0.1) -> np.ndarray:
  """(..., J, 3) -> (...,) the extent in y of the confident joints (0 where none): the height
  the jitter is a fraction of (normalize.person_heights is ankle to head, NaN where either is
  missing)."""
  keypoints = np.asarray(keypoints)
  bounds = confident_bounds(keypoints, min_conf).astype(keypoints.dtype)  # exact: its own values
  return np.nan_to_num(bounds[..., 3] - bounds[..., 1])


def apply(keypoints: np.ndarray, noise: DetectorNoise, rng: np.random.Generator,
          min_conf: float = 0.1) -> np.ndarray:
  """(..., T, J, 3) true keypoints (x, y, confidence) -> the same with the detector's errors.
  A joint that was not confident stays missing; confidences of the rest are kept. Face and
  hand points (the 68-point layout) have no measured noise model: they are kept as they are."""
  keypoints = np.asarray(keypoints, np.float32)
  if keypoints.shape[-2] > NUM_JOINTS:
    body = apply(keypoints[..., :NUM_JOINTS, :], noise, rng, min_conf)
    return np.concatenate([body, keypoints[..., NUM_JOINTS:, :]], -2)
  frames = keypoints.shape[:-2]
  height = extent_heights(keypoints, min_conf)[..., None, None]
  out = keypoints.copy()
  swapped = rng.random(frames) < noise.swap
  out[swapped] = out[swapped][:, MIRROR]
  offsets = rng.normal(size=keypoints.shape[:-1] + (2,)) * np.asarray(noise.jitter)[:, None]
  out[..., :2] += (offsets * height).astype(np.float32)
  missed = (rng.random(keypoints.shape[:-1]) < np.asarray(noise.joint_miss)) | \
      (rng.random(frames) < noise.frame_miss)[..., None]
  out[..., 2] = np.where(missed | (keypoints[..., 2] < min_conf), 0.0, out[..., 2])
  out[..., :2] = np.where(out[..., 2:] > 0, out[..., :2], 0.0)  # a missed joint: (0, 0, 0)
  return out


# `python -m experiments.detector_noise_rates --size=64 --clips=16 --frames=32` (2026-12-04,
# mediapipe 0.10.21): 512 frames at the EDN demo's 64 x 64, the person ~38 px tall. MediaPipe
# found the person in every frame; it missed an ankle in 2 % of them, and labelled left and
# right the other way round in 26 % (the dancer is drawn the same from the front and the
# back). Jitter: ~1 % of the height at the neck and eyes, 3-4 % at shoulders, hips, knees and
# ankles, 5 % at elbows, 8 % at wrists (~3 px a frame).
MEDIAPIPE_DANCER_64 = DetectorNoise(
    frame_miss=0.0, swap=0.26,
    joint_miss=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0195, 0.0, 0.0, 0.0195, 0.0,
                0.0, 0.0, 0.0),
    jitter=(0.0101, 0.0074, 0.0319, 0.0527, 0.0847, 0.0315, 0.0499, 0.0833, 0.0384, 0.0425,
            0.0404, 0.0366, 0.036, 0.0371, 0.0143, 0.0144, 0.0303, 0.0303))
NOISE_MODELS = {"mediapipe_dancer_64": MEDIAPIPE_DANCER_64}
