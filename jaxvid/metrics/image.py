"""PSNR and SSIM on images in [-1, 1], (..., H, W, C); one value per image, from dm-pix.

SSIM is the standard one (Wang et al. 2004): an 11x11 Gaussian window with sigma 1.5, 'valid'
filtering (no padding), K1 = 0.01, K2 = 0.03 on the data range; the SSIM map is averaged over
space and channels. Images are compared on [0, 1] (data range 1), the usual convention. Both are
dm_pix's; jaxvid adds the [-1, 1] -> [0, 1] mapping, the 100 dB cap on PSNR (so averages over
frames of identical images stay finite) and the window-size check.
"""
from __future__ import annotations

import dm_pix
import jax
import jax.numpy as jnp

MAX_PSNR = 100.0  # dB, for identical images (so averages over frames stay finite)


def _unit(x) -> jax.Array:
  return (jnp.asarray(x, jnp.float32) + 1) / 2


def _per_image(metric, a, b, **kwargs) -> jax.Array:
  """dm_pix's metrics take one batch axis: any leading axes are folded into it and back."""
  lead = a.shape[:-3]
  flat = lambda x: x.reshape((-1,) + x.shape[-3:])
  return metric(flat(a), flat(b), **kwargs).reshape(lead)


def psnr(a, b) -> jax.Array:
  """10 log10(1 / MSE) on [0, 1] images, capped at MAX_PSNR for identical images."""
  return jnp.minimum(_per_image(dm_pix.psnr, _unit(a), _unit(b)), MAX_PSNR)


def ssim(a, b, window_size: int = 11, sigma: float = 1.5) -> jax.Array:
  a, b = _unit(a), _unit(b)
  if a.shape[-3] < window_size or a.shape[-2] < window_size:
    raise ValueError(f"SSIM's {window_size}x{window_size} window needs images at least that "
                     f"large; got {a.shape[-3]}x{a.shape[-2]}")
  return _per_image(dm_pix.ssim, a, b, max_val=1.0, filter_size=window_size,
                    filter_sigma=sigma, k1=0.01, k2=0.03)
