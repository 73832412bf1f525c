"""Model FLOPs by the usual convention, counted from the layers a forward pass actually calls.

XLA's cost analysis is no good for MFU here: it counts the zeros of an lhs-dilated transposed
conv (8x too many in 3-D) and the unused border phases of the fast form. Instead every
jaxvid.models.layers.Conv / ConvTranspose call is intercepted and counted as
2 * positions * prod(kernel) * c_in * c_out, with positions = output voxels for a conv and input
voxels for a transposed conv (each input voxel scatters one kernel).
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax

from jaxvid.models import layers


def forward_flops(module: nn.Module, variables, *args, **kwargs) -> int:
  """FLOPs of one forward pass of `module` (convolutions only; elementwise ops are minor)."""
  total = 0

  def count(next_fun, args_, kwargs_, context):
    nonlocal total
    mod = context.module
    if context.method_name == "__call__" and isinstance(mod, (layers.Conv, layers.ConvTranspose)):
      x = args_[0]
      y = next_fun(*args_, **kwargs_)
      voxels = y.shape[:-1] if isinstance(mod, layers.Conv) else x.shape[:-1]
      total += 2 * math.prod(voxels) * math.prod(mod.kernel_size) * x.shape[-1] * mod.features
      return y
    return next_fun(*args_, **kwargs_)

  with nn.intercept_methods(count):
    jax.eval_shape(lambda v: module.apply(v, *args, mutable=["batch_stats"], **kwargs), variables)
  return total


def gan_step_flops(g_fwd: int, d_fwd: int) -> int:
  """One D step + one G step, with backward = 2 x forward for weights + inputs:
  D step: D fwd+bwd on the real and the fake batch (2 x 3 D); G fwd+bwd (3 G, the forward is
  shared with the D step); G step: D fwd + input-gradient bwd (2 D)."""
  return 3 * g_fwd + 8 * d_fwd
