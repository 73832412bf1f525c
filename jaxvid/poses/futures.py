"""From a pose-VAE's sampled step futures to the futures a user is shown (The Pose Knows' code).

* `interpolate_steps`: the VAE forecasts one pose per step of `k` video frames; the code's
  `getIntermediates.lua` fills the frames of step i linearly, frame m (1..k) = P_i + m/k (P_{i+1}
  - P_i), keeping P_i's confidence.
* `select_futures`: the code's `evaltest.lua` draws 800 futures from the prior, keeps the 10 %
  that move most, and shows the centres of 5 k-means clusters of those (in a space where each
  coordinate is standardised over the kept samples), the biggest cluster first.

Numpy only: they run once per forecast on a few hundred small arrays, after the jitted rollout.
"""
from __future__ import annotations

import numpy as np

from jaxvid.poses import velocity_code

SCORES = ("motion", "code")


def interpolate_steps(step_poses: np.ndarray, frames_per_step: int) -> np.ndarray:
  """(..., S + 1, J, 3) poses at the step frames (the first the present) -> (..., S * k + 1, J,
  3) a pose at every video frame: the step poses reproduced at frames 0, k, 2k, ..., the frames
  between on the straight line from one step's pose to the next, with the earlier one's
  confidence (as getIntermediates)."""
  k = int(frames_per_step)
  if k < 1:
    raise ValueError(f"frames_per_step must be >= 1, got {frames_per_step}")
  p = np.asarray(step_poses, np.float32)
  start, end = p[..., :-1, :, :], p[..., 1:, :, :]  # (..., S, J, 3)
  m = (np.arange(k, dtype=np.float32) / k)[:, None, None]  # frames 0..k-1 of each step
  xy = start[..., None, :, :2] + m * (end[..., None, :, :2] - start[..., None, :, :2])
  conf = np.broadcast_to(start[..., None, :, 2:], xy.shape[:-1] + (1,))
  frames = np.concatenate([xy, conf], -1)  # (..., S, k, J, 3)
  frames = frames.reshape(frames.shape[:-4] + (-1,) + frames.shape[-2:])
  return np.concatenate([frames, p[..., -1:, :, :]], -3)


def motion_scores(step_poses: np.ndarray, score: str = "motion") -> np.ndarray:
  """(..., S + 1, J, 3) normalised poses -> (...,) how much each future moves.

  'motion': the summed joint speed (L2 of every step's velocities); 'code': evaltest.lua's
  product ||magnitude code|| x ||direction code|| over the steps, on the encoded velocities
  (velocity_code) -- its magnitude code (exp|v| - 1.1) / 0.1 is largest for the *least* motion
  at the speeds of the data, so it is offered for faithfulness, not as the default.
  """
  p = np.asarray(step_poses, np.float32)
  velocities = p[..., 1:, :, :2] - p[..., :-1, :, :2]
  if score == "motion":
    return np.linalg.norm(velocities, axis=-1).sum(axis=(-1, -2))
  if score == "code":
    direction, magnitude = (np.asarray(x) for x in velocity_code.encode(velocities))
    flat = lambda x: x.reshape(x.shape[:-2] + (-1,))
    return np.linalg.norm(flat(magnitude), axis=-1) * np.linalg.norm(flat(direction), axis=-1)
  raise ValueError(f"score must be one of {SCORES}, got {score!r}")


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 50,
           restarts: int = 10) -> tuple[np.ndarray, np.ndarray]:
  """Lloyd's k-means with k-means++ seeding, the best of `restarts` runs (least squared
  distance; one run of Lloyd's often merges two clusters): points (N, D) -> (centres (k, D),
  labels (N,)). Written here because one small call does not justify a scikit-learn
  dependency."""
  n = len(points)
  if not 1 <= k <= n:
    raise ValueError(f"k-means needs 1 <= k <= {n} points, got k={k}")
  runs = [_lloyd(points, k, rng, iterations) for _ in range(restarts)]
  inertia = [((points - centres[labels]) ** 2).sum() for centres, labels in runs]
  return runs[int(np.argmin(inertia))]


def _lloyd(points, k, rng, iterations):
  n = len(points)
  centres = [points[rng.integers(n)]]
  for _ in range(k - 1):
    d2 = np.min([np.sum((points - c) ** 2, -1) for c in centres], axis=0)
    total = d2.sum()
    centres.append(points[rng.choice(n, p=d2 / total)] if total > 0 else points[rng.integers(n)])
  centres = np.stack(centres)
  labels = np.zeros(n, int)
  for i in range(iterations):
    new = np.argmin(((points[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    if i and np.array_equal(new, labels):
      break
    labels = new
    for c in range(k):
      if (labels == c).any():
        centres[c] = points[labels == c].mean(0)
  return centres, labels


def select_futures(futures: np.ndarray, scores: np.ndarray, num_futures: int,
                   rng: np.random.Generator, top_fraction: float = 0.1) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
  """futures (N, T, J, 3) of one clip and their motion scores (N,) -> (num_futures, T, J, 3)
  k-means centres of the `top_fraction` that move most, biggest cluster first, and each
  cluster's share of the kept samples. Coordinates are standardised over the kept samples for
  the clustering (the code) and the centres mapped back; confidence is the first kept sample's.
  """
  keep = max(num_futures, int(round(len(futures) * top_fraction)))
  if keep > len(futures):
    raise ValueError(f"{num_futures} futures need at least {num_futures} samples, got "
                     f"{len(futures)}")
  kept = futures[np.argsort(-scores, kind="stable")[:keep]]
  xy = kept[..., :2].reshape(keep, -1)
  mean, std = xy.mean(0), xy.std(0) + 1e-9
  centres, labels = kmeans((xy - mean) / std, num_futures, rng)
  sizes = np.bincount(labels, minlength=num_futures)
  order = np.argsort(-sizes, kind="stable")
  centres = (centres * std + mean)[order].reshape((num_futures,) + kept.shape[1:-1] + (2,))
  conf = np.broadcast_to(kept[:1, ..., 2:], centres.shape[:-1] + (1,))
  return np.concatenate([centres, conf], -1).astype(np.float32), sizes[order] / keep
