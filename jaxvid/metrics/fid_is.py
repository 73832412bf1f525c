"""FID (Inception-v3 features) and the video Inception Score (C3D), with user-supplied weights.

  FID(A, B) = Fréchet distance of Gaussians fitted to the 2048-d Inception-v3 pooled features of
              the frames (299x299 bilinear, inputs in [-1, 1], the pytorch-fid convention);
  IS        = exp( E_x KL( p(y|x) || p(y) ) ), p(y|x) = softmax(C3D(x)), p(y) = mean over the
              set, averaged over `splits` equal parts as Salimans et al. (TGAN/MoCoGAN protocol:
              C3D trained on UCF101, 16 frames of 112x112, inputs in [0, 255] RGB).
No offline weights exist: pass the .npz made from the PyTorch state dict (models/inception.py).
"""
from __future__ import annotations

import jax
import numpy as np

from jaxvid.metrics.fvd import frechet_distance, gaussian
from jaxvid.models import inception


def inception_score(logits: np.ndarray, splits: int = 1) -> float:
  logits = np.asarray(logits, np.float64)
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  scores = []
  for part in np.array_split(probs, splits):
    marginal = part.mean(0, keepdims=True)
    kl = np.sum(part * (np.log(part + 1e-12) - np.log(marginal + 1e-12)), axis=-1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores))


class FIDFeatures:
  """pytorch-fid's features: its FID Inception (`variant='fid'`) on frames resized to 299x299
  (bilinear, pixel centres: F.interpolate(align_corners=False)), in [-1, 1]."""

  def __init__(self, weights_path: str, batch_size: int = 16, variant: str = "fid"):
    self.model = inception.InceptionV3(variant)
    self.variables = inception.load_torch_npz(self.model, (1, 299, 299, 3), weights_path)
    self.batch_size = batch_size
    self._fn = jax.jit(lambda v, x: self.model.apply(v, jax.image.resize(
        x, (x.shape[0], 299, 299, 3), "bilinear", antialias=False)))

  def __call__(self, images) -> np.ndarray:
    """(N, H, W, 3) images in [-1, 1] -> (N, 2048)."""
    images = np.asarray(images, np.float32)
    return np.concatenate([np.asarray(self._fn(self.variables, images[i:i + self.batch_size]))
                           for i in range(0, len(images), self.batch_size)])


def fid(features_a, features_b) -> float:
  return frechet_distance(*gaussian(features_a), *gaussian(features_b))


class C3DLogits:
  def __init__(self, weights_path: str, num_classes: int = 101, batch_size: int = 8):
    self.model = inception.C3D(num_classes)
    self.variables = inception.load_torch_npz(self.model, (1, 16, 112, 112, 3), weights_path)
    self.batch_size = batch_size

    def run(v, x):  # [-1, 1] -> [0, 255], 112x112
      b, t = x.shape[:2]
      frames = jax.image.resize(x.reshape((b * t,) + x.shape[2:]), (b * t, 112, 112, 3),
                                "bilinear", antialias=False)
      return self.model.apply(v, (frames.reshape(b, t, 112, 112, 3) + 1.0) * 127.5)

    self._fn = jax.jit(run)

  def __call__(self, videos) -> np.ndarray:
    videos = np.asarray(videos, np.float32)
    if videos.ndim != 5 or videos.shape[1] != 16:
      raise ValueError(f"C3D takes clips of 16 frames (N, 16, H, W, 3); got {videos.shape}")
    return np.concatenate([np.asarray(self._fn(self.variables, videos[i:i + self.batch_size]))
                           for i in range(0, len(videos), self.batch_size)])
