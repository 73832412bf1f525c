"""VGAN: two-stream video generator and 3-D conv discriminator (Vondrick et al. 2016).

Layer for layer as the authors' Torch7 code (`main.lua`, `main_conditional.lua`):

Unconditional generator, z ~ N(0, I) in R^100, BatchNorm + ReLU after every hidden layer:
  background: ConvT z->c0 k4 (1 -> 4x4), then c0->c1->c2->c3->3, k4 s2 p1, tanh.
  foreground: ConvT z->c0 k(2,4,4) (1 -> 2x4x4), then c0->c1->c2->c3, k4 s2 p1; two heads
              c3->3 (tanh) = f and c3->1 (sigmoid) = m, k4 s2 p1.
  G(z) = m * f + (1 - m) * b, b replicated over time. Paper: c = (512, 256, 128, 64).
Conditional generator (future from one frame): a 2-D encoder e0->e1->e2->e3 (k4 s2 p1, ReLU,
  BatchNorm eps 1e-3 except the first layer) replaces z; the background stream starts from the
  encoder's 4x4 map with the k4 s2 p1 tower, the foreground stream lifts it to 2x4x4 with a
  ConvT k(2,1,1). Paper: encoder (128, 256, 512, 1024), c = (1024, 512, 256, 128).
Discriminator: Conv3d k4 s2 p1 3->d0 (LeakyReLU 0.2, no BN), d0->d1->d2->d3 (BN eps 1e-3,
  LeakyReLU 0.2), then Conv3d d3->1 with a kernel covering what is left (2x4x4) -> one logit.
  The code outputs 2 logits into a softmax; sigmoid of one logit is the same model
  (softmax([a, b])_0 = sigmoid(a - b)) with 512*32 + 1 fewer parameters.

Upsampling (not in the paper; `upsample`): 'transposed' is the paper's k4 s2 p1 transposed conv
in every stride-2 layer; 'resize' replaces each by nearest-neighbour x2 then a k3 s1 p1 conv
(Odena et al. 2016, "Deconvolution and Checkerboard Artifacts"), 'resize_out' only the three
output layers (f, m, b), where a period-2 checkerboard in the pixels would be made.

Sizes generalise: with n = len(channels) upsampling layers, a clip of T x H x W frames needs
T, H, W divisible by 2^n; the base of the foreground stream is (T, H, W) / 2^n.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvid.models.layers import Conv, ConvTranspose, ResizeConv, batch_norm


def stream_base_shape(frames: int, height: int, width: int, num_up: int) -> tuple[int, int, int]:
  """(T, H, W) at the bottom of a stream of `num_up` stride-2 layers, or a clear error."""
  factor = 2 ** num_up
  bad = [f"{name}={size}" for name, size in (("frames", frames), ("height", height),
                                             ("width", width)) if size % factor or size < factor]
  if bad:
    raise ValueError(
        f"VGAN with {num_up} stride-2 layers per stream needs frames, height and width that are "
        f"multiples of {factor} (at least {factor}); got {', '.join(bad)}. Change the clip size "
        f"or the number of channels in the generator/discriminator config.")
  return frames // factor, height // factor, width // factor


UPSAMPLE = ("transposed", "resize", "resize_out")
STREAMS = ("two", "one")


def upsample_2x(x, features: int, ndim: int, resize: bool, impl: str, name: str, dtype=None,
                bias_init=nn.initializers.zeros):
  """One stride-2 generator layer, called inside a compact module (its parameters are
  `name`/kernel, bias, as the paper's layer's): the paper's k4 s2 p1 transposed conv, or
  (resize=True) nearest-neighbour x2 then a k3 s1 p1 conv, which spreads every input voxel
  evenly over its 2x2(x2) block and so cannot make a period-2 checkerboard by itself."""
  if not resize:
    return ConvTranspose(features, (4,) * ndim, (2,) * ndim, 1, impl=impl, bias_init=bias_init,
                         dtype=dtype, name=name)(x)
  return ResizeConv(features, (3,) * ndim, impl=impl, bias_init=bias_init, dtype=dtype,
                    name=name)(x)


class _UpTower(nn.Module):
  """Stride-2 upsampling layers (`upsample_2x`), each followed by BatchNorm + ReLU."""
  channels: Sequence[int]
  ndim: int
  impl: str
  resize: bool = False
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x, train: bool):
    for i, c in enumerate(self.channels):
      x = upsample_2x(x, c, self.ndim, self.resize, self.impl, f"up{i}", self.dtype)
      x = nn.relu(batch_norm(train, 1e-5, name=f"bn_up{i}", dtype=self.dtype)(x))
    return x


class FrameEncoder(nn.Module):
  """2-D encoder of the conditioning frame (main_conditional.lua `encode_net`)."""
  channels: Sequence[int] = (128, 256, 512, 1024)
  impl: str = "fast"
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, frame, train: bool):
    x = frame
    for i, c in enumerate(self.channels):
      x = Conv(c, (4, 4), (2, 2), 1, impl=self.impl, dtype=self.dtype, name=f"conv{i}")(x)
      if i > 0:
        x = batch_norm(train, 1e-3, name=f"bn{i}", dtype=self.dtype)(x)
      x = nn.relu(x)
    return x


class Generator(nn.Module):
  """Two-stream generator. Returns a dict with video, foreground, mask and background."""
  frames: int = 32
  height: int = 64
  width: int = 64
  channels: Sequence[int] = (512, 256, 128, 64)
  conditional: bool = False
  encoder_channels: Sequence[int] = (128, 256, 512, 1024)
  out_channels: int = 3
  # Initial bias of the mask logit: 0 in the authors' code (mask 0.5 everywhere at the start);
  # negative starts with the background stream showing (see configs/vgan.py, the CPU demo).
  mask_bias_init: float = 0.0
  upsample: str = "transposed"  # see the module docstring
  # 'two' (the paper's model) or 'one': the paper's one-stream baseline, the foreground tower
  # and its video head alone (no background, no mask); returns {'video'} only.
  streams: str = "two"
  impl: str = "fast"
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, inputs, train: bool = True):
    """inputs: z (B, z_dim) or, if conditional, the first frame (B, H, W, C) in [-1, 1]."""
    if self.upsample not in UPSAMPLE:
      raise ValueError(f"upsample must be one of {UPSAMPLE}, got {self.upsample!r}")
    if self.streams not in STREAMS:
      raise ValueError(f"streams must be one of {STREAMS}, got {self.streams!r}")
    if self.streams == "one" and self.conditional:
      raise ValueError("the one-stream baseline is the unconditional model's")
    resize_tower = self.upsample == "resize"
    resize_out = self.upsample != "transposed"
    c = list(self.channels)
    num_up = len(c)
    t0, h0, w0 = stream_base_shape(self.frames, self.height, self.width, num_up)
    dt = self.dtype
    if self.conditional:
      if inputs.shape[1:3] != (self.height, self.width):
        raise ValueError(f"conditioning frame must be {self.height}x{self.width}, got "
                         f"{inputs.shape[1:3]}")
      code = FrameEncoder(self.encoder_channels, self.impl, dt, name="encoder")(inputs, train)
      if code.shape[1:3] != (h0, w0):
        raise ValueError(f"encoder of {len(self.encoder_channels)} layers gives {code.shape[1:3]}, "
                         f"the streams start at {(h0, w0)}: use as many encoder layers as "
                         f"generator channels")
      static = code  # background tower starts at the encoder's map
      video = ConvTranspose(c[0], (t0, 1, 1), impl=self.impl, dtype=dt,
                            name="fg_in")(code[:, None])
      video = nn.relu(batch_norm(train, 1e-5, name="bn_fg_in", dtype=dt)(video))
      static_tower, video_tower = c[1:], c[1:]
    else:
      z = inputs.reshape(inputs.shape[0], -1)
      if self.streams == "one":  # the paper's one-stream baseline: 3-D transposed convs only
        video = ConvTranspose(c[0], (t0, h0, w0), impl=self.impl, dtype=dt,
                              name="fg_in")(z[:, None, None, None, :])
        video = nn.relu(batch_norm(train, 1e-5, name="bn_fg_in", dtype=dt)(video))
        video = _UpTower(c[1:], 3, self.impl, resize_tower, dt, name="fg_tower")(video, train)
        return {"video": jnp.tanh(upsample_2x(video, self.out_channels, 3, resize_out,
                                              self.impl, "fg_out", dt))}
      static = ConvTranspose(c[0], (h0, w0), impl=self.impl, dtype=dt,
                             name="bg_in")(z[:, None, None, :])
      static = nn.relu(batch_norm(train, 1e-5, name="bn_bg_in", dtype=dt)(static))
      video = ConvTranspose(c[0], (t0, h0, w0), impl=self.impl, dtype=dt,
                            name="fg_in")(z[:, None, None, None, :])
      video = nn.relu(batch_norm(train, 1e-5, name="bn_fg_in", dtype=dt)(video))
      static_tower, video_tower = c[1:], c[1:]

    static = _UpTower(static_tower, 2, self.impl, resize_tower, dt, name="bg_tower")(static, train)
    background = jnp.tanh(upsample_2x(static, self.out_channels, 2, resize_out, self.impl,
                                      "bg_out", dt))
    video = _UpTower(video_tower, 3, self.impl, resize_tower, dt, name="fg_tower")(video, train)
    foreground = jnp.tanh(upsample_2x(video, self.out_channels, 3, resize_out, self.impl,
                                      "fg_out", dt))
    mask = nn.sigmoid(upsample_2x(video, 1, 3, resize_out, self.impl, "mask_out", dt,
                                  nn.initializers.constant(self.mask_bias_init)))
    background = background[:, None]  # replicated over time by broadcasting
    out = mask_composite(mask, foreground, background)
    return {"video": out, "foreground": foreground, "mask": mask, "background": background}


@jax.custom_vjp
def mask_composite(mask, foreground, background):
  """m * f + (1 - m) * b, the mask (..., 1) broadcast over the colour channels and the
  background (B, 1, H, W, C) over time.

  Its VJP writes the mask's gradient sum_c g_c (f_c - b_c) as a sum of channel slices: left
  to autodiff it is a reduction over the 3 colours that XLA:CPU hands to YNNPACK, 4.1 ms of op
  time in the profile of the CPU demo's step on a 2-core Xeon, 0.5 ms this way (the whole
  step's change is within its noise: benchmarks/RESULTS.md)."""
  return mask * foreground + (1.0 - mask) * background


def _mask_composite_fwd(mask, foreground, background):
  return mask_composite(mask, foreground, background), (mask, foreground, background)


def _mask_composite_bwd(residuals, g):
  mask, foreground, background = residuals
  difference = g * (foreground - background)
  d_mask = difference[..., :1]
  for c in range(1, difference.shape[-1]):
    d_mask = d_mask + difference[..., c:c + 1]
  # summed over the axes the background was broadcast along (time, for VGAN's static stream)
  broadcast = tuple(a for a, (n, m) in enumerate(zip(background.shape, g.shape)) if n != m)
  d_background = jnp.sum((1.0 - mask) * g, axis=broadcast, keepdims=True)
  return d_mask, mask * g, d_background


mask_composite.defvjp(_mask_composite_fwd, _mask_composite_bwd)


def minibatch_stddev(x: jax.Array, group: int = 4) -> jax.Array:
  """Minibatch standard deviation (Karras et al. 2018, Progressive GANs, sec. 3): x (B, ..., C)
  with one more channel, in groups of `group` clips (the whole batch when it does not divide):
  the standard deviation of each feature over the group, averaged over features and positions.
  A D that sees it can tell a batch of near-copies (collapse) from a varied real one."""
  b = x.shape[0]
  g = group if b % group == 0 else b
  grouped = x.reshape((g, b // g) + x.shape[1:]).astype(jnp.float32)
  std = jnp.sqrt(jnp.var(grouped, axis=0) + 1e-8)  # (B/g, ...)
  stat = jnp.mean(std, axis=tuple(range(1, std.ndim)))  # (B/g,)
  stat = jnp.tile(stat, g).reshape((b,) + (1,) * (x.ndim - 1))  # clip i: its group's value
  return jnp.concatenate([x, jnp.broadcast_to(stat, x.shape[:-1] + (1,)).astype(x.dtype)], -1)


class Discriminator(nn.Module):
  """3-D conv discriminator -> one real/fake logit per clip, shape (B,)."""
  channels: Sequence[int] = (64, 128, 256, 512)
  # Not in the paper (a CPU-demo stabiliser): the minibatch standard deviation as one more
  # channel before the logit layer (`minibatch_stddev`).
  minibatch_std: bool = False
  # Not in the paper (a CPU-demo stabiliser): spectral normalisation of every conv's kernel
  # (Miyato et al. 2018, one power iteration per training call, its vector kept in
  # batch_stats) in place of D's BatchNorm, as SN-GAN's discriminators have none (after a
  # BatchNorm the conv's scale, which SN bounds, would not matter).
  spectral_norm: bool = False
  impl: str = "fast"
  dtype: jnp.dtype | None = None

  def _conv(self, train: bool, *args, name: str, **kwargs):
    conv = Conv(*args, impl=self.impl, dtype=self.dtype, name=name, **kwargs)
    if not self.spectral_norm:
      return conv
    return lambda x: nn.SpectralNorm(conv, name=f"sn_{name}")(x, update_stats=train)

  def trunk(self, video, train: bool):
    """The convolutions before the logit: (B, T, H, W, C) -> the last feature map (the
    representation VideoClassifier fine-tunes). Called inside a compact __call__."""
    if video.ndim != 5:
      raise ValueError(f"discriminator expects (B, T, H, W, C) video, got shape {video.shape}")
    x = video
    for i, c in enumerate(self.channels):
      x = self._conv(train, c, (4, 4, 4), (2, 2, 2), 1, name=f"conv{i}")(x)
      if i > 0 and not self.spectral_norm:
        x = batch_norm(train, 1e-3, name=f"bn{i}", dtype=self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    return x

  @nn.compact
  def __call__(self, video, train: bool = True):
    t0, h0, w0 = stream_base_shape(*video.shape[1:4], len(self.channels))
    x = self.trunk(video, train)
    if self.minibatch_std:
      x = minibatch_stddev(x)
    logit = self._conv(train, 1, (t0, h0, w0), name="logit")(x)
    return logit.reshape(video.shape[0]).astype(jnp.float32)


class VideoClassifier(Discriminator):
  """VGAN's discriminator as a video classifier, as the authors' `main_ucf.lua` makes it: the
  trunk (the same parameter names as Discriminator's, so a VGAN checkpoint's D loads into it),
  its last two modules replaced by volumetric dropout and a convolution over the whole last
  map to `num_classes` logits. `dropout_rate` drops whole feature channels (VolumetricDropout)."""
  num_classes: int = 101
  dropout_rate: float = 0.5

  @nn.compact
  def __call__(self, video, train: bool = True, train_trunk: bool | None = None):
    """`train` switches the dropout (and the trunk's BatchNorm, unless `train_trunk` says
    otherwise: False keeps a frozen trunk's statistics while the head trains)."""
    t0, h0, w0 = stream_base_shape(*video.shape[1:4], len(self.channels))
    x = self.trunk(video, train if train_trunk is None else train_trunk)
    x = nn.Dropout(self.dropout_rate, broadcast_dims=(1, 2, 3), deterministic=not train)(x)
    logits = self._conv(train, self.num_classes, (t0, h0, w0), name="head")(x)
    return logits.reshape(video.shape[0], self.num_classes).astype(jnp.float32)
