"""The Pose Knows, video half: a 3-D U-Net generator G(I, S_T) and its 3-D conv discriminator.

G's input is the first frame I tiled over time, concatenated on channels with the rendered
skeleton video S_T (B, T, H, W, 3 + 3); its output is the whole clip (B, T, H, W, 3) in [-1, 1].
The authors' 3-D pix2pix U-Net (`trainGAN.lua`, defineGV_unet), activations before each conv:

  e_0 = Conv(x)                          Conv3d k4 s2 p1 -> c_0, no BatchNorm
  e_k = BN(Conv(LeakyReLU_0.2(e_{k-1})))  k = 1..n-1, Conv3d k4 s2 p1 -> c_k
  [bottleneck] e_n = BN(Conv(LeakyReLU(e_{n-1}))) with the kernel that takes the remaining
          extent to 1x1x1 (stride 2, pad 1: the code's k(4,6,6) on 2x4x5)
  d_k = Dropout(BN(ConvT(ReLU(u_{k+1}))))  u_k = [d_k ; e_k], from the innermost level outwards
          (dropout 0.5 on the `dropout_levels` innermost decoder levels: the code's first two)
  out = tanh(ConvT(ReLU(u_0)))           ConvT3d k4 s2 p1 -> 3

With `composite` (not in the paper: a CPU-demo option) the last layer has 4 channels, a
foreground f = tanh(.) and a mask m = sigmoid(.), and the clip is m * f + (1 - m) * I: VGAN's
two-stream composition (Vondrick et al. 2016) with the known first frame as the background, as
vid2vid composes its hallucinated frame with the previous one by a soft occlusion mask (Wang et
al. 2018). Where nothing moves G only has to leave m at 0; the paper's G must redraw every pixel.
The mask starts near 1 (MASK_INIT_LOGIT): G begins as the paper's G and learns where the input
frame may stand in. Started at 0.5, the L1 term closed the mask before f learned anything (the
run became the first frame repeated, 2026-12-04).

so T, H and W must be multiples of 2^n (n strided k4 levels). The strided layers are the same
Torch-semantics layers as VGAN's (`layers.py`), with its fast phase-decomposed form on CPU. D is
VGAN's discriminator (`vgan.Discriminator`); with `pose_in_discriminator` it also sees S_T on its
input channels (the authors' code: D does not see the pose).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxvid.models.layers import Conv, ConvTranspose, batch_norm


MASK_INIT_LOGIT = 3.0  # composite: m = sigmoid(logit + 3) = 0.95 at the start


def check_clip_shape(frames: int, height: int, width: int, num_layers: int) -> None:
  """A clear error when the U-Net's n stride-2 levels cannot tile the clip."""
  factor = 2 ** num_layers
  bad = [f"{n}={s}" for n, s in (("frames", frames), ("height", height), ("width", width))
         if s % factor or s < factor]
  if bad:
    raise ValueError(f"a U-Net with {num_layers} stride-2 levels needs frames, height and width "
                     f"that are multiples of {factor}; got {', '.join(bad)}")


def bottleneck_kernels(extent: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """(conv kernel, transposed-conv kernel) of the level that takes `extent` (T, H, W) to 1x1x1
  and back with stride 2, padding 1: floor((s + 2 - k) / 2) + 1 = 1 and (1 - 1) * 2 - 2 + k' = s.
  On the code's 2x4x5 these are its (4, 6, 6) and (4, 6, 7) in (T, H, W) order."""
  return tuple(2 * (s // 2) + 2 for s in extent), tuple(s + 2 for s in extent)


def generator_input(first_frame, skeleton_video):
  """[I tiled over time ; S_T] on channels: (B, H, W, 3), (B, T, H, W, 3) -> (B, T, H, W, 6)."""
  tiled = jnp.broadcast_to(first_frame[:, None], skeleton_video.shape[:-1] + first_frame.shape[-1:])
  return jnp.concatenate([tiled, skeleton_video.astype(tiled.dtype)], axis=-1)


class UNet3D(nn.Module):
  channels: Sequence[int] = (64, 128, 256, 512)  # the strided k4 levels
  bottleneck: int = 0  # > 0: one more level of this width down to 1x1x1 (the code: 8 * ngf)
  dropout: float = 0.0  # the code: 0.5
  dropout_levels: int = 2  # the innermost decoder levels that drop out
  out_channels: int = 3
  composite: bool = False  # out = m * f + (1 - m) * I, I = x[..., :3] (generator_input's layout)
  impl: str = "fast"
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x, train: bool = True):
    """x (B, T, H, W, 6) -> (B, T, H, W, 3). With dropout, train=True needs a 'dropout' rng.
    With `composite` the mask m (B, T, H, W, 1) is sown as intermediates 'mask'."""
    if x.ndim != 5:
      raise ValueError(f"UNet3D expects (B, T, H, W, C) input, got shape {x.shape}")
    check_clip_shape(*x.shape[1:4], len(self.channels))
    x_in = x
    conv = lambda c, name, kernel=(4, 4, 4): Conv(c, kernel, (2, 2, 2), 1, impl=self.impl,
                                                  dtype=self.dtype, name=name)
    up = lambda c, name, kernel=(4, 4, 4): ConvTranspose(c, kernel, (2, 2, 2), 1, impl=self.impl,
                                                         dtype=self.dtype, name=name)
    bn = lambda name: batch_norm(train, 1e-5, name=name, dtype=self.dtype)
    widths = list(self.channels) + ([self.bottleneck] if self.bottleneck else [])
    skips = []
    for k, c in enumerate(widths):
      if k == 0:
        x = conv(c, "down0")(x)
      else:
        kernel = (4, 4, 4)
        if k == len(self.channels):  # the bottleneck level: whatever extent is left -> 1x1x1
          kernel, up_kernel = bottleneck_kernels(x.shape[1:4])
        x = bn(f"bn_down{k}")(conv(c, f"down{k}", kernel)(nn.leaky_relu(x, 0.2)))
      skips.append(x)
    x = skips.pop()  # the innermost level feeds the decoder directly
    for level, k in enumerate(reversed(range(len(widths) - 1))):
      kernel = up_kernel if self.bottleneck and k == len(widths) - 2 else (4, 4, 4)
      x = bn(f"bn_up{k}")(up(widths[k], f"up{k}", kernel)(nn.relu(x)))
      if self.dropout and level < self.dropout_levels:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
      x = jnp.concatenate([x, skips[k]], axis=-1)
    if not self.composite:
      return jnp.tanh(up(self.out_channels, "out")(nn.relu(x)))
    head = up(self.out_channels + 1, "out")(nn.relu(x))
    foreground, mask = jnp.tanh(head[..., :-1]), nn.sigmoid(head[..., -1:] + MASK_INIT_LOGIT)
    self.sow("intermediates", "mask", mask)
    return mask * foreground + (1.0 - mask) * x_in[..., :self.out_channels].astype(head.dtype)
