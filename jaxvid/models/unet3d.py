"""The Pose Knows, video half: a 3-D U-Net generator G(I, S_T) and its 3-D conv discriminator.

G's input is the first frame I tiled over time, concatenated on channels with the rendered
skeleton video S_T (B, T, H, W, 3 + 3); its output is the whole clip (B, T, H, W, 3) in [-1, 1].
A pix2pix-style U-Net in 3-D (the paper: "a 3D U-Net"):

  encoder  e_k: Conv3d k4 s2 p1 -> c_k, BatchNorm (not on e_0), LeakyReLU 0.2, k = 0..n-1
  decoder  d_k: ConvT3d k4 s2 p1 -> c_k, BatchNorm, ReLU, then concat with e_k (skip), k = n-2..0
  output      : ConvT3d k4 s2 p1 -> 3, tanh

so T, H and W must be multiples of 2^n. The strided layers are the same Torch-semantics layers as
VGAN's (`layers.py`), with its fast phase-decomposed form on CPU. D is VGAN's discriminator
(`vgan.Discriminator`); with `pose_in_discriminator` it also sees S_T on its input channels (the
authors' code: D does not see the pose).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxvid.models.layers import Conv, ConvTranspose, batch_norm


def check_clip_shape(frames: int, height: int, width: int, num_layers: int) -> None:
  """A clear error when the U-Net's n stride-2 levels cannot tile the clip."""
  factor = 2 ** num_layers
  bad = [f"{n}={s}" for n, s in (("frames", frames), ("height", height), ("width", width))
         if s % factor or s < factor]
  if bad:
    raise ValueError(f"a U-Net with {num_layers} stride-2 levels needs frames, height and width "
                     f"that are multiples of {factor}; got {', '.join(bad)}")


def generator_input(first_frame, skeleton_video):
  """[I tiled over time ; S_T] on channels: (B, H, W, 3), (B, T, H, W, 3) -> (B, T, H, W, 6)."""
  tiled = jnp.broadcast_to(first_frame[:, None], skeleton_video.shape[:-1] + first_frame.shape[-1:])
  return jnp.concatenate([tiled, skeleton_video.astype(tiled.dtype)], axis=-1)


class UNet3D(nn.Module):
  channels: Sequence[int] = (64, 128, 256, 512)
  out_channels: int = 3
  impl: str = "fast"
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x, train: bool = True):
    if x.ndim != 5:
      raise ValueError(f"UNet3D expects (B, T, H, W, C) input, got shape {x.shape}")
    check_clip_shape(*x.shape[1:4], len(self.channels))
    conv = lambda c, name: Conv(c, (4, 4, 4), (2, 2, 2), 1, impl=self.impl, dtype=self.dtype,
                                name=name)
    up = lambda c, name: ConvTranspose(c, (4, 4, 4), (2, 2, 2), 1, impl=self.impl,
                                       dtype=self.dtype, name=name)
    skips = []
    for k, c in enumerate(self.channels):
      x = conv(c, f"down{k}")(x)
      if k > 0:
        x = batch_norm(train, 1e-5, name=f"bn_down{k}", dtype=self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
      skips.append(x)
    for k in reversed(range(len(self.channels) - 1)):
      x = up(self.channels[k], f"up{k}")(x)
      x = nn.relu(batch_norm(train, 1e-5, name=f"bn_up{k}", dtype=self.dtype)(x))
      x = jnp.concatenate([x, skips[k]], axis=-1)
    return jnp.tanh(up(self.out_channels, "out")(x))
