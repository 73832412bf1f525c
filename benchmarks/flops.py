"""Model FLOPs by the usual convention, counted from the layers a forward pass actually calls.

XLA's cost analysis is no good for MFU here: it counts the zeros of an lhs-dilated transposed
conv (8x too many in 3-D) and the unused border phases of the fast form. Instead every conv,
transposed conv, dense layer and LSTM a forward pass calls is intercepted and counted from its
shapes (`forward_flops`: 2 * positions * prod(kernel) * c_in * c_out, with positions = output
voxels for a conv and input voxels for a transposed conv, each input voxel scattering one
kernel; a resize-conv as the k4 s2 transposed conv it equals, benchmarks/analytic_flops.py);
timing.model_step_flops multiplies each network's count by how often a step runs it.
`traced_flops` (off the step's jaxpr) stays as a cross-check: it changes with how a jax version
differentiates.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.extend.core

from jaxvid.models import layers


def _lstm_flops(x_shape, hidden: int, num_layers: int) -> int:
  """An `OptimizedLSTMCell` stack over (B, T, F): per layer and step, the four gates' input and
  hidden projections, 2 x B x (F + H) x 4H (F = H after the first layer)."""
  batch, steps, features = math.prod(x_shape[:-2]), x_shape[-2], x_shape[-1]
  total = 0
  for layer in range(num_layers):
    total += 2 * batch * steps * ((features if layer == 0 else hidden) + hidden) * 4 * hidden
  return total


def forward_flops(module: nn.Module, variables, *args, **kwargs) -> int:
  """FLOPs of one forward pass of `module` (convolutions, dense layers and LSTMs; elementwise
  ops are minor). Counted per layer from the shapes it is called with:
    jaxvid conv / flax nn.Conv / pix2pixHD Conv   2 x output positions x taps x c_in x c_out
    jaxvid transposed conv, pix2pixHD ConvT3x3    2 x input positions x taps x c_in x c_out
    resize-conv                                   as the k4 s2 transposed conv it equals
    nn.Dense                                      2 x positions x in x out
    pose-VAE LSTM stack                           _lstm_flops (every time step; the cell is
                                                  traced once inside nn.RNN's scan)
  """
  from jaxvid.models import pix2pixhd, pose_vae
  total = 0
  inside_lstm = [False]

  def count(next_fun, args_, kwargs_, context):
    nonlocal total
    mod = context.module
    if context.method_name != "__call__" or inside_lstm[0]:
      return next_fun(*args_, **kwargs_)
    x = args_[0]
    if isinstance(mod, pose_vae._StackedLSTM):
      total += _lstm_flops(x.shape, mod.hidden, mod.num_layers)
      inside_lstm[0] = True
      try:
        return next_fun(*args_, **kwargs_)
      finally:
        inside_lstm[0] = False
    y = next_fun(*args_, **kwargs_)
    c_in = x.shape[-1]
    if isinstance(mod, (layers.Conv, layers.ConvTranspose, layers.ResizeConv)):
      voxels = y.shape[:-1] if isinstance(mod, layers.Conv) else x.shape[:-1]
      # a resize-conv is computed as (and is the same map as) a k4 s2 transposed conv
      taps = 4 ** len(mod.kernel_size) if isinstance(mod, layers.ResizeConv) else math.prod(
          mod.kernel_size)
      total += 2 * math.prod(voxels) * taps * c_in * mod.features
    elif isinstance(mod, nn.Conv):
      total += 2 * math.prod(y.shape[:-1]) * math.prod(mod.kernel_size) * c_in * mod.features
    elif isinstance(mod, pix2pixhd.Conv):
      total += 2 * math.prod(y.shape[:-1]) * mod.kernel_size ** 2 * c_in * mod.features
    elif isinstance(mod, pix2pixhd.ConvT3x3):
      total += 2 * math.prod(x.shape[:-1]) * 9 * c_in * mod.features
    elif isinstance(mod, nn.Dense):
      total += 2 * math.prod(x.shape[:-1]) * c_in * mod.features
    return y

  with nn.intercept_methods(count):
    jax.eval_shape(lambda v: module.apply(v, *args, mutable=["batch_stats"], **kwargs), variables)
  return total


def gan_step_flops(g_fwd: int, d_fwd: int) -> int:
  """One D step + one G step, with backward = 2 x forward for weights + inputs:
  D step: D fwd+bwd on the real and the fake batch (2 x 3 D); G fwd+bwd (3 G, the forward is
  shared with the D step); G step: D fwd + input-gradient bwd (2 D)."""
  return 3 * g_fwd + 8 * d_fwd


def _conv_flops(eqn) -> int:
  """2 x output elements x kernel taps x input features per group, less the taps that land on
  the zeros an lhs dilation (a transposed conv or a strided conv's input gradient) inserts."""
  lhs_spec, rhs_spec, out_spec = eqn.params["dimension_numbers"]
  rhs_shape = eqn.invars[1].aval.shape
  taps = math.prod(rhs_shape[d] for d in rhs_spec[2:])
  features_in = rhs_shape[rhs_spec[1]]
  out = math.prod(eqn.outvars[0].aval.shape)
  dilation = math.prod(eqn.params.get("lhs_dilation") or (1,))
  return 2 * out * taps * features_in // dilation


def _dot_flops(eqn) -> int:
  (lhs_contract, _), (lhs_batch, _) = eqn.params["dimension_numbers"]
  lhs_shape = eqn.invars[0].aval.shape
  contracted = math.prod(lhs_shape[d] for d in lhs_contract)
  return 2 * math.prod(eqn.outvars[0].aval.shape) * contracted


def _jaxpr_flops(jaxpr, multiplier: int = 1) -> int:
  total = 0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == "conv_general_dilated":
      total += multiplier * _conv_flops(eqn)
    elif name == "dot_general":
      total += multiplier * _dot_flops(eqn)
    inner = multiplier * (eqn.params.get("length", 1) if name == "scan" else 1)
    for value in eqn.params.values():
      for sub in (value if isinstance(value, (tuple, list)) else (value,)):
        if isinstance(sub, jax.extend.core.ClosedJaxpr):
          total += _jaxpr_flops(sub.jaxpr, inner)
        elif isinstance(sub, jax.extend.core.Jaxpr):
          total += _jaxpr_flops(sub, inner)
  return total


def traced_flops(fn, *args) -> int:
  """Conv and matmul FLOPs of everything `fn(*args)` computes (forward, backward, every network
  of a train step), read off its jaxpr: the FLOPs a perfect implementation must do, without the
  zeros of dilated inputs that XLA's cost analysis counts. Elementwise work is not counted."""
  return _jaxpr_flops(jax.make_jaxpr(fn)(*args).jaxpr)
