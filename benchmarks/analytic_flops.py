"""VGAN's model FLOPs written out layer by layer from its config: the count MFU uses.

Counting off the step's jaxpr (flops.traced_flops) depends on how a jax version differentiates
(the same commit gave 3241 GFLOP for `:paper` on jax 0.11.2 and 2952 on 0.10.2: one extra conv
per G layer appears around the custom VJP). This count depends on the layer list only:
  conv             2 x output voxels x kernel taps x c_in x c_out
  transposed conv  2 x input voxels  x kernel taps x c_in x c_out (each input voxel scatters a
                   kernel; the zeros of a dilated input are not work)
  resize-conv      nearest x2 then a k3 conv is the same map as a k4 s2 p1 transposed conv
                   (layers.ResizeConv computes it so): counted as that, what the paper's layer
                   costs (the k3 conv at the upsampled size would be 27/8 more in 3-D)
Bias, BatchNorm, activations and the composite are elementwise (< 1 %) and not counted.
One GAN iteration (trainers/gan_common.train_g_d), backward = 2 x forward (weights + input):
  D step  D forward + backward on the real and the fake clips   6 D
  G       forward + backward                                   3 G
  G step  D forward + input gradient through the updated D     2 D   (D's weight gradient is
                                                                      not taken; PyTorch's
                                                                      usual G step takes it: +1 D)
  = 3 G + 8 D per clip. flops.forward_flops (intercepting every conv the model calls) must give
the same forward counts: tests/test_benchmarks.py checks both against each other and pins
`:paper`.
"""
from __future__ import annotations

import math


def _conv(out_voxels, taps, c_in, c_out) -> int:
  return 2 * math.prod(out_voxels) * math.prod(taps) * c_in * c_out


def _up(in_voxels, c_in, c_out) -> int:
  """A stride-2 upsampling layer of the generator (k4 s2 p1 transposed, or resize + k3)."""
  return _conv(in_voxels, (4,) * len(in_voxels), c_in, c_out)


def vgan_forward(config) -> tuple[int, int]:
  """(G, D) forward FLOPs per clip of an unconditional VGAN config (configs/vgan.py)."""
  v, d = config.vgan, config.data
  if v.conditional:
    raise ValueError("vgan_forward counts the unconditional model (the conditional one's "
                     "encoder is counted by flops.forward_flops)")
  c, n = list(v.g_channels), len(v.g_channels)
  base = [d.frames >> n, d.height >> n, d.width >> n]

  def stream(base_size, out_channels):
    """z -> base_size (one input voxel), the stride-2 tower, the output layer(s)."""
    flops, size = _conv([1], base_size, v.z_dim, c[0]), list(base_size)
    for a, b in zip(c, c[1:]):
      flops += _up(size, a, b)
      size = [2 * s for s in size]
    return flops + _up(size, c[-1], out_channels)

  g = stream(base, 3 if v.streams == "one" else 4)  # f (3) and m (1) share the input
  if v.streams == "two":
    g += stream(base[1:], 3)  # the background image
  dc = list(v.d_channels)
  size = [d.frames, d.height, d.width]
  disc, c_in = 0, 3
  for ch in dc:
    size = [s // 2 for s in size]
    disc += _conv(size, (4, 4, 4), c_in, ch)
    c_in = ch
  disc += _conv([1], size, c_in + int(v.minibatch_std), 1)  # the logit covers what is left
  return g, disc


def vgan_step(config) -> int:
  """Model FLOPs of one VGAN GAN iteration at the config's batch (3 G + 8 D per clip)."""
  g, d = vgan_forward(config)
  return config.train.batch_size * (3 * g + 8 * d)
