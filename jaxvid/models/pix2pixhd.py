"""pix2pixHD networks as Everybody Dance Now uses them (Wang et al. 2018; Chan et al. 2019).

Layer for layer as pix2pixHD's `networks.py`, images (B, H, W, C) in [-1, 1]:

GlobalGenerator(ngf, n_down, n_blocks): ReflectionPad 3, Conv 7 -> ngf, IN, ReLU;
  n_down x [Conv 3 s2 p1 -> 2x channels, IN, ReLU]; n_blocks x ResnetBlock(ngf 2^n_down);
  n_down x [ConvTranspose 3 s2 p1 output_padding 1 -> channels / 2, IN, ReLU];
  ReflectionPad 3, Conv 7 -> out, tanh.
ResnetBlock(dim): x + [ReflectionPad 1, Conv 3, IN, ReLU, ReflectionPad 1, Conv 3, IN](x).
LocalEnhancer (2x resolution): a GlobalGenerator of 2 ngf without its last (pad, conv, tanh) on
  the input average-pooled by 2, added to [ReflectionPad 3, Conv 7 -> ngf, IN, ReLU, Conv 3 s2 p1
  -> 2 ngf, IN, ReLU](input), then n_local ResnetBlock(2 ngf), ConvTranspose -> ngf, IN, ReLU,
  ReflectionPad 3, Conv 7 -> out, tanh.
NLayerDiscriminator(ndf, n_layers): Conv 4 s2 p2 -> ndf, LReLU 0.2; (n_layers - 1) x [Conv 4 s2
  p2 -> min(2x, 512), IN, LReLU]; Conv 4 s1 p2 -> min(2x, 512), IN, LReLU; Conv 4 s1 p2 -> 1.
  Returns every block's output (the last is the patch logits) for feature matching.
MultiscaleDiscriminator(num_d): num_d NLayerDiscriminators, the k-th on the input average-pooled
  (3x3, stride 2, pad 1, padding excluded from the mean) k times.

IN = InstanceNorm without affine parameters (pix2pixHD's 'instance' norm). Init as pix2pixHD's
weights_init: conv weights N(0, 0.02); biases zero (Torch draws them uniformly; they have no
effect on the parameter count).
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvid.models import layers

_INIT = nn.initializers.normal(0.02)


def reflect_pad(x, pad: int):
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def avg_pool_3x3_s2(x):
  """AvgPool2d(3, stride=2, padding=1, count_include_pad=False)."""
  pad = ((0, 0), (1, 1), (1, 1), (0, 0))
  window, strides = (1, 3, 3, 1), (1, 2, 2, 1)
  total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, pad)
  count = jax.lax.reduce_window(jnp.ones_like(x[..., :1]), 0.0, jax.lax.add, window, strides, pad)
  return total / count


def instance_norm(name=None):
  return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False, name=name)


class ConvT3x3(nn.Module):
  """Torch ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1): H, W -> 2H, 2W.

  conv_impl 'fast': by output phase (XLA:CPU); 'literal': cuDNN's form, the input gradient of
  the strided conv (accelerators)."""
  features: int
  dtype: jnp.dtype | None = None
  conv_impl: str = "fast"

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", _INIT, (3, 3, x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    dtype = self.dtype or x.dtype
    transpose = conv_transpose_3x3_s2 if self.conv_impl == "fast" else conv_transpose_3x3_s2_literal
    return transpose(x.astype(dtype), kernel.astype(dtype)) + bias.astype(dtype)


def conv_transpose_3x3_s2(x, kernel):
  """The conv of the 2x-dilated input padded (1, 2) with `kernel`, split by output phase.

  Output row 2m reads input row m through kernel row 1; row 2m + 1 reads rows m and m + 1
  through kernel rows 0 and 2 (likewise for columns). So each of the 4 output phases is a
  stride-1 conv of the undilated input with a 1x1, 1x2, 2x1 or 2x2 slice of the kernel, and
  the phases interleave into the output: no multiplications by the dilation's zeros, and
  gradients that are stride-1 convs (XLA:CPU runs the dilated form's gradients slowly).
  """
  taps = {0: jnp.array([1]), 1: jnp.array([0, 2])}
  phases = []
  for rh in (0, 1):
    row = []
    for rw in (0, 1):
      sub = jnp.take(jnp.take(kernel, taps[rh], axis=0), taps[rw], axis=1)
      padded = jnp.pad(x, ((0, 0), (0, rh), (0, rw), (0, 0)))
      row.append(_conv_nhwc(padded, sub, stride=1, padding=0))
    phases.append(jnp.stack(row, axis=3))  # (B, H, W, rw, C)
  y = jnp.stack(phases, axis=2)  # (B, H, rh, W, rw, C)
  b, h, _, w, _, c = y.shape
  return y.reshape(b, 2 * h, 2 * w, c)


def conv_transpose_3x3_s2_literal(x, kernel):
  """The same map as `conv_transpose_3x3_s2` in cuDNN's form: the input gradient of the
  k3 s2 p1 conv on 2H x 2W inputs (whose kernel is this one flipped, in/out swapped), with that
  conv's own gradients (`layers.conv_transpose_as_input_grad`)."""
  b, h, w, _ = x.shape
  conv_kernel = jnp.swapaxes(jnp.flip(kernel, (0, 1)), -1, -2)
  return layers.conv_transpose_as_input_grad(x, conv_kernel, (2, 2), 1,
                                             (b, 2 * h, 2 * w, kernel.shape[-1]))


def _conv_nhwc(x, kernel, stride: int, padding: int):
  return jax.lax.conv_general_dilated(x, kernel, (stride, stride), [(padding, padding)] * 2,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_gemm_weight_grad(x, kernel, stride: int, padding: int):
  """A Torch Conv2d whose kernel gradient is an im2col GEMM.

  Same forward and input gradient as the plain conv; XLA:CPU computes the kernel gradient of the
  discriminator's 4x4 convs as a generic convolution ~10x slower than this GEMM.
  """
  return _conv_nhwc(x, kernel, stride, padding)


def _conv_forward(x, kernel, stride, padding):
  return _conv_nhwc(x, kernel, stride, padding), (x, kernel)


def _conv_backward(stride, padding, residuals, g):
  x, kernel = residuals
  # linear_transpose, not vjp: no (dead) forward conv in the step's jaxpr
  input_vjp = jax.linear_transpose(lambda z: _conv_nhwc(z, kernel, stride, padding), x)
  kh, kw, c_in, c_out = kernel.shape
  _, ho, wo, _ = g.shape
  xp = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  patches = jnp.stack([xp[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
                       for i in range(kh) for j in range(kw)], axis=3)  # (B, Ho, Wo, taps, C)
  patches = patches.reshape(-1, kh * kw * c_in)
  grad_kernel = jax.lax.dot_general(patches, g.reshape(-1, c_out), (((0,), (0,)), ((), ())))
  return input_vjp(g)[0], grad_kernel.reshape(kernel.shape).astype(kernel.dtype)


conv_gemm_weight_grad.defvjp(_conv_forward, _conv_backward)


class Conv(nn.Module):
  """nn.Conv's parameters (and auto-name Conv_k); conv_impl 'fast': with `conv_gemm_weight_grad`
  inside (XLA:CPU), 'literal': the plain conv, whose gradients cuDNN computes directly."""
  features: int
  kernel_size: int
  stride: int = 1
  padding: int = 0
  dtype: jnp.dtype | None = None
  conv_impl: str = "fast"

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    kernel = self.param("kernel", _INIT, (k, k, x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    dtype = self.dtype or x.dtype
    conv = conv_gemm_weight_grad if self.conv_impl == "fast" else _conv_nhwc
    y = conv(x.astype(dtype), kernel.astype(dtype), self.stride, self.padding)
    return y + bias.astype(dtype)


def _conv(features, kernel, stride=1, padding=0, dtype=None, name=None):
  return nn.Conv(features, (kernel, kernel), (stride, stride), padding=padding, kernel_init=_INIT,
                 dtype=dtype, name=name)


class ResnetBlock(nn.Module):
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x):
    dim = x.shape[-1]
    y = nn.relu(instance_norm()(_conv(dim, 3, dtype=self.dtype)(reflect_pad(x, 1))))
    y = instance_norm()(_conv(dim, 3, dtype=self.dtype)(reflect_pad(y, 1)))
    return x + y


class GlobalGenerator(nn.Module):
  ngf: int = 64
  n_down: int = 4
  n_blocks: int = 9
  out_channels: int = 3
  with_output_layer: bool = True  # False inside the LocalEnhancer
  # True: a zero output layer, so a residual generator starts at r = 0 (the CPU face demo's
  # choice, configs/edn.py edn.face_output_init); the code inits every conv N(0, 0.02).
  zero_output: bool = False
  dtype: jnp.dtype | None = None
  conv_impl: str = "fast"  # see ConvT3x3 and Conv

  @nn.compact
  def __call__(self, x):
    factor = 2 ** self.n_down
    if x.shape[1] % factor or x.shape[2] % factor:
      raise ValueError(f"the global generator with {self.n_down} downsamplings needs height and "
                       f"width divisible by {factor}; got {x.shape[1]}x{x.shape[2]}")
    x = nn.relu(instance_norm()(_conv(self.ngf, 7, dtype=self.dtype)(reflect_pad(x, 3))))
    for i in range(self.n_down):
      x = nn.relu(instance_norm()(_conv(self.ngf * 2 ** (i + 1), 3, 2, 1, self.dtype)(x)))
    for _ in range(self.n_blocks):
      x = ResnetBlock(self.dtype)(x)
    for i in range(self.n_down):
      x = nn.relu(instance_norm()(ConvT3x3(self.ngf * 2 ** (self.n_down - i - 1), self.dtype,
                                                    self.conv_impl)(x)))
    if not self.with_output_layer:
      return x
    out = nn.Conv(self.out_channels, (7, 7), padding=0, dtype=self.dtype,
                  kernel_init=nn.initializers.zeros if self.zero_output else _INIT)
    return jnp.tanh(out(reflect_pad(x, 3)))


class LocalEnhancer(nn.Module):
  """pix2pixHD's generator for 2x the global resolution (one local enhancer)."""
  ngf: int = 32
  n_down_global: int = 4
  n_blocks_global: int = 9
  n_blocks_local: int = 3
  out_channels: int = 3
  dtype: jnp.dtype | None = None
  conv_impl: str = "fast"  # see ConvT3x3 and Conv

  @nn.compact
  def __call__(self, x):
    global_features = GlobalGenerator(self.ngf * 2, self.n_down_global, self.n_blocks_global,
                                      with_output_layer=False, dtype=self.dtype,
                                      conv_impl=self.conv_impl, name="global")(avg_pool_3x3_s2(x))
    y = nn.relu(instance_norm()(_conv(self.ngf, 7, dtype=self.dtype)(reflect_pad(x, 3))))
    y = nn.relu(instance_norm()(_conv(self.ngf * 2, 3, 2, 1, self.dtype)(y)))
    y = y + global_features
    for _ in range(self.n_blocks_local):
      y = ResnetBlock(self.dtype)(y)
    y = nn.relu(instance_norm()(ConvT3x3(self.ngf, self.dtype, self.conv_impl)(y)))
    return jnp.tanh(_conv(self.out_channels, 7, dtype=self.dtype)(reflect_pad(y, 3)))


class NLayerDiscriminator(nn.Module):
  ndf: int = 64
  n_layers: int = 3
  dtype: jnp.dtype | None = None
  conv_impl: str = "fast"  # see ConvT3x3 and Conv

  @nn.compact
  def __call__(self, x) -> list[jax.Array]:
    features = []
    x = nn.leaky_relu(Conv(self.ndf, 4, 2, 2, self.dtype, self.conv_impl)(x), 0.2)
    features.append(x)
    nf = self.ndf
    for n in range(1, self.n_layers + 1):
      nf = min(nf * 2, 512)
      stride = 2 if n < self.n_layers else 1
      x = nn.leaky_relu(instance_norm()(Conv(nf, 4, stride, 2, self.dtype, self.conv_impl)(x)), 0.2)
      features.append(x)
    features.append(Conv(1, 4, 1, 2, self.dtype, self.conv_impl)(x).astype(jnp.float32))
    return features


class MultiscaleDiscriminator(nn.Module):
  num_d: int = 2
  ndf: int = 64
  n_layers: int = 3
  dtype: jnp.dtype | None = None
  conv_impl: str = "fast"  # see ConvT3x3 and Conv

  @nn.compact
  def __call__(self, x) -> list[list[jax.Array]]:
    outputs = []
    for k in range(self.num_d):
      outputs.append(NLayerDiscriminator(self.ndf, self.n_layers, self.dtype, self.conv_impl,
                                         name=f"scale{k}")(x))
      if k + 1 < self.num_d:
        x = avg_pool_3x3_s2(x)
    return outputs
