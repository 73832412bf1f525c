"""Fréchet Video Distance (Unterthiner et al. 2018) with the Kinetics-400 I3D.

The reference protocol: videos resized per frame to 224x224 (bilinear, no antialiasing, as
TF1's resize_bilinear), values in [-1, 1], I3D's 400 logits averaged over time as features,
then the Fréchet distance between Gaussians fitted to the two feature sets, computed on the
host in float64:  ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).
I3D needs at least 9 frames (three temporal stride-2 stages, then a 2-frame pooling window);
the usual protocol uses 16.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from jaxvid.models import i3d

MIN_FRAMES = 9


def frechet_distance(mu_a, cov_a, mu_b, cov_b) -> float:
  mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
  cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
  covmean, _ = scipy.linalg.sqrtm(cov_a @ cov_b, disp=False)
  if not np.isfinite(covmean).all():  # singular product: regularise, as the reference does
    offset = np.eye(len(cov_a)) * 1e-6
    covmean = scipy.linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
  covmean = covmean.real
  return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
               - 2 * np.trace(covmean))


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  features = np.asarray(features, np.float64)
  if len(features) < 2:
    raise ValueError(f"FVD needs at least 2 videos per set, got {len(features)}")
  return features.mean(0), np.cov(features, rowvar=False)


def resize_bilinear_tf1(images, height: int, width: int):
  """(N, H, W, C) -> (N, height, width, C) as TF1's resize_bilinear(align_corners=False):
  output pixel i samples the input at i * (in / out) (corner-aligned, not at pixel centres as
  jax.image.resize does), interpolating between floor and the next pixel (clamped at the edge).
  Written out because no JAX library offers this legacy sampling grid."""
  def axis_weights(size_in: int, size_out: int):
    src = np.arange(size_out, dtype=np.float64) * (size_in / size_out)
    low = np.floor(src).astype(np.int32)
    high = np.minimum(low + 1, size_in - 1)
    return low, high, (src - low).astype(np.float32)
  y0, y1, fy = axis_weights(images.shape[1], height)
  x0, x1, fx = axis_weights(images.shape[2], width)
  rows = (images[:, y0] * (1 - fy)[None, :, None, None] + images[:, y1] * fy[None, :, None, None])
  return rows[:, :, x0] * (1 - fx)[None, None, :, None] + rows[:, :, x1] * fx[None, None, :, None]


class I3DFeatures:
  """(N, T, H, W, 3) videos in [-1, 1] -> (N, 400) I3D logits, in batches."""

  def __init__(self, batch_size: int = 8):
    self.model, self.variables = i3d.I3D(), i3d.load_kinetics400()
    self.batch_size = batch_size
    self._fn = jax.jit(lambda v, x: self.model.apply(v, self.preprocess(x)))

  @staticmethod
  def preprocess(videos):
    """To 224x224 as the reference FVD code does: TF1 `tf.image.resize_bilinear` (no
    half-pixel centres, no antialiasing), then clipped to [-1, 1]."""
    b, t = videos.shape[:2]
    frames = videos.reshape((b * t,) + videos.shape[2:]).astype(jnp.float32)
    frames = resize_bilinear_tf1(frames, 224, 224)
    return jnp.clip(frames, -1.0, 1.0).reshape(b, t, 224, 224, 3)

  def __call__(self, videos, progress=None) -> np.ndarray:
    """`progress(n)`, if given, is called with each batch's clip count."""
    videos = np.asarray(videos, np.float32)
    if videos.ndim != 5 or videos.shape[1] < MIN_FRAMES or videos.shape[-1] != 3:
      raise ValueError(f"FVD needs (N, T>={MIN_FRAMES}, H, W, 3) videos, got {videos.shape}")
    out = []
    size = min(self.batch_size, len(videos))  # a few clips (tests) run without padding to 8
    for i in range(0, len(videos), size):
      chunk = videos[i:i + size]
      pad = size - len(chunk)  # one compiled shape for every batch
      if pad:
        chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, 0)])
      out.append(np.asarray(self._fn(self.variables, chunk), np.float64)[:len(chunk) - pad])
      if progress is not None:
        progress(len(chunk) - pad)
    return np.concatenate(out)


def fvd(features_a: np.ndarray, features_b: np.ndarray) -> float:
  """The Frechet distance between the Gaussians of two feature sets (N, d), (M, d).

  Equal to frechet_distance(*gaussian(a), *gaussian(b)) without a d x d matrix square root:
  with La = centred(a)^T / sqrt(N-1) (so cov_a = La La^T) and Lb likewise, the eigenvalues of
  cov_a cov_b are the squared singular values of La^T Lb (N x M), so
  tr sqrtm(cov_a cov_b) = the sum of those singular values. ~100x faster for d = 400 and a
  few hundred clips, which makes bootstrap intervals (hundreds of FVDs) affordable."""
  a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
  for f in (a, b):
    if len(f) < 2:
      raise ValueError(f"FVD needs at least 2 videos per set, got {len(f)}")
  mu_a, mu_b = a.mean(0), b.mean(0)
  la = (a - mu_a) / np.sqrt(len(a) - 1)
  lb = (b - mu_b) / np.sqrt(len(b) - 1)
  cross = np.linalg.svd(la @ lb.T, compute_uv=False).sum()
  return float(np.sum((mu_a - mu_b) ** 2) + np.sum(la * la) + np.sum(lb * lb) - 2 * cross)
