"""PSNR and SSIM on images in [-1, 1], (..., H, W, C); one value per image.

SSIM is the standard one (Wang et al. 2004): an 11x11 Gaussian window with sigma 1.5, 'valid'
filtering (no padding), K1 = 0.01, K2 = 0.03 on the data range; the SSIM map is averaged over
space and channels. Images are compared on [0, 1] (data range 1), the usual convention.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


MAX_PSNR = 100.0  # dB, for identical images (so averages over frames stay finite)


def psnr(a, b) -> jax.Array:
  """10 log10(1 / MSE) on [0, 1] images, capped at MAX_PSNR for identical images."""
  a01, b01 = (jnp.asarray(a, jnp.float32) + 1) / 2, (jnp.asarray(b, jnp.float32) + 1) / 2
  mse = jnp.mean(jnp.square(a01 - b01), axis=(-3, -2, -1))
  return jnp.minimum(10.0 * jnp.log10(1.0 / jnp.maximum(mse, 1e-30)), MAX_PSNR)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
  x = np.arange(size) - (size - 1) / 2
  g = np.exp(-x ** 2 / (2 * sigma ** 2))
  return (g / g.sum()).astype(np.float32)


def _filter(x, window):
  """Separable valid Gaussian filter over H, W of (N, H, W, C)."""
  k = window.shape[0]
  c = x.shape[-1]
  dn = ("NHWC", "HWIO", "NHWC")
  kh = jnp.tile(jnp.asarray(window).reshape(k, 1, 1, 1), (1, 1, 1, c))
  kw = jnp.tile(jnp.asarray(window).reshape(1, k, 1, 1), (1, 1, 1, c))
  x = jax.lax.conv_general_dilated(x, kh, (1, 1), "VALID", dimension_numbers=dn,
                                   feature_group_count=c)
  return jax.lax.conv_general_dilated(x, kw, (1, 1), "VALID", dimension_numbers=dn,
                                      feature_group_count=c)


def ssim(a, b, window_size: int = 11, sigma: float = 1.5) -> jax.Array:
  a = (jnp.asarray(a, jnp.float32) + 1) / 2
  b = (jnp.asarray(b, jnp.float32) + 1) / 2
  if a.shape[-3] < window_size or a.shape[-2] < window_size:
    raise ValueError(f"SSIM's {window_size}x{window_size} window needs images at least that "
                     f"large; got {a.shape[-3]}x{a.shape[-2]}")
  lead = a.shape[:-3]
  a, b = a.reshape((-1,) + a.shape[-3:]), b.reshape((-1,) + b.shape[-3:])
  w = _gaussian_window(window_size, sigma)
  c1, c2 = 0.01 ** 2, 0.03 ** 2
  mu_a, mu_b = _filter(a, w), _filter(b, w)
  var_a = _filter(a * a, w) - mu_a ** 2
  var_b = _filter(b * b, w) - mu_b ** 2
  cov = _filter(a * b, w) - mu_a * mu_b
  ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
      (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
  return jnp.mean(ssim_map, axis=(1, 2, 3)).reshape(lead)
