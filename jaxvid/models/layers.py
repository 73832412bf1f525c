"""Convolutions with Torch semantics, in a literal and a fast (GEMM-based) form.

VGAN's nets are built from kernel-4, stride-2, padding-1 convolutions and transposed
convolutions (Torch's `SpatialFullConvolution` / `VolumetricFullConvolution`). XLA:CPU runs the
literal transposed conv (an lhs-dilated conv) and the input gradient of a strided conv very
slowly. Both have an exactly equivalent form built from an ordinary stride-1 convolution:

* stride-2 conv, k=4, p=1: pad by 1, space-to-depth by 2, then a 2-tap valid conv whose kernel
  is the original one regrouped as k = 2a + b (a: tap, b: sub-pixel channel).
* stride-2 transposed conv, k=4, p=1: the adjoint of that conv (a Torch transposed conv is the
  input gradient of the conv with the same kernel), taken with `jax.linear_transpose`: one GEMM
  of the input with the whole kernel, then an overlap-add of shifted blocks and depth-to-space.
  No zeros are multiplied (an earlier phase-split form computed the border phases it then threw
  away: up to 3.4x the FLOPs on VGAN's 2x4x4 layer).

The 2-tap stride-1 conv is computed as im2col (2^d shifted slices stacked next to the channels)
and one 2-D matmul: XLA:CPU runs dots through its fast GEMM, while its 3-D conv kernels (and
their weight gradients) are an order of magnitude slower at these shapes. (`jnp.stack` on a new
axis, not a channel-axis `concatenate`: XLA:CPU emits the latter as a slow element loop, ~10x
slower, which made the im2col cost more than the matmul.) The projection layers (a kernel
that covers the whole 1-voxel input, or the whole input for the final logit) are plain matmuls.

Same parameters and the same numbers (up to float summation order) in both forms; the
`impl` attribute ('literal' | 'fast') picks one, and tests/test_layers.py checks they agree.
Parameters are stored as (*kernel, in, out) like Flax's own convs.
"""
from __future__ import annotations

import functools
import itertools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

IMPLS = ("literal", "fast")


def resolve_conv_impl(name: str, key: str = "conv_impl") -> str:
  """'auto' picks the phase-decomposed form on CPU, where XLA's strided convs are slow."""
  if name == "auto":
    return "fast" if jax.default_backend() == "cpu" else "literal"
  if name not in ("fast", "literal"):
    raise ValueError(f"{key} must be 'auto', 'fast' or 'literal', got {name!r}")
  return name


def _dimension_numbers(ndim: int) -> tuple[str, str, str]:
  spatial = "DHW"[-ndim:]
  return f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"


def _is_fast_case(kernel: Sequence[int], strides: Sequence[int], padding: int) -> bool:
  return padding == 1 and all(k == 4 for k in kernel) and all(s == 2 for s in strides)


def conv_transpose_literal(x, kernel, strides: Sequence[int], padding: int):
  """Torch `FullConvolution` semantics: out[o] = sum_{i,k: o = s*i - p + k} x[i] w[k]."""
  ndim = kernel.ndim - 2
  out_shape = ((x.shape[0],) + tuple((n - 1) * s - 2 * padding + k for n, s, k in
                                     zip(x.shape[1:-1], strides, kernel.shape[:ndim]))
               + (kernel.shape[-1],))
  return conv_transpose_as_input_grad(x, jnp.swapaxes(kernel, -1, -2), tuple(strides), padding,
                                      out_shape)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv_transpose_as_input_grad(x, conv_kernel, strides, padding, out_shape):
  """The transpose (input gradient) of `conv_literal(., conv_kernel, strides, padding)` on
  inputs of `out_shape`, evaluated at x: a Torch transposed conv (its weight is the conv's).

  Written as a custom VJP so that its gradients are those of a plain strided conv: dx is the
  conv itself and the kernel gradient is the conv's weight gradient, the forms cuDNN has fast
  kernels for (as PyTorch computes them). Left to autodiff, the gradients of the lhs-dilated
  conv become dilated-kernel convs that XLA:GPU ran with 64-block kernels: 56 % of VGAN's
  paper step on an H200 (benchmarks/RESULTS.md).
  """
  transpose = jax.linear_transpose(lambda z: conv_literal(z, conv_kernel, strides, padding),
                                   jax.ShapeDtypeStruct(out_shape, x.dtype))
  return transpose(x)[0]


def _conv_transpose_fwd(x, conv_kernel, strides, padding, out_shape):
  return conv_transpose_as_input_grad(x, conv_kernel, strides, padding, out_shape), (x, conv_kernel)


def _conv_transpose_bwd(strides, padding, out_shape, residuals, g):
  x, conv_kernel = residuals
  # <g, T_k x> = <conv_k g, x>: dx = conv_k(g); dk = the conv's weight gradient at input g
  # with output cotangent x
  y, kernel_vjp = jax.vjp(lambda k: conv_literal(g, k, strides, padding), conv_kernel)
  return y, kernel_vjp(x.astype(y.dtype))[0]


conv_transpose_as_input_grad.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def _two_tap_conv(x, kernel):
  """Valid stride-1 conv with a (2,)*d kernel, as im2col + one matmul."""
  ndim = kernel.ndim - 2
  sizes = x.shape[1:-1]
  columns = []
  for offset in itertools.product((0, 1), repeat=ndim):
    columns.append(x[(slice(None),) + tuple(slice(o, o + n - 1) for o, n in zip(offset, sizes))])
  # Stacked on a new axis then merged (channel order: (offset..., in)): XLA:CPU emits a
  # channel-axis concatenate as a slow element loop, a stack as plain copies (10x faster).
  patches = jnp.stack(columns, axis=-2)
  out_shape = patches.shape[:-2]
  patches = patches.reshape(-1, patches.shape[-2] * patches.shape[-1])  # a 2-D GEMM
  y = patches @ kernel.reshape(-1, kernel.shape[-1])
  return y.reshape(out_shape + (kernel.shape[-1],))


def conv_transpose_fast(x, kernel):
  """k=4, s=2, p=1 transposed conv as the exact transpose (adjoint) of `conv_fast`.

  A Torch transposed conv is the input-gradient of the stride-2 conv with the same kernel
  (in/out swapped), so JAX's linear transpose of `conv_fast` computes it: one GEMM of the input
  with the whole kernel (each input voxel scatters 4^d taps, no zeros multiplied), then the
  overlap-add of the 2^d shifted blocks and depth-to-space.
  """
  swapped = jnp.swapaxes(kernel, -1, -2)  # (*k, out, in): the conv that maps out -> in
  out_shape = (x.shape[0],) + tuple(2 * n for n in x.shape[1:-1]) + (kernel.shape[-1],)
  transpose = jax.linear_transpose(lambda z: conv_fast(z, swapped),
                                   jax.ShapeDtypeStruct(out_shape, x.dtype))
  return transpose(x)[0]


def conv_literal(x, kernel, strides: Sequence[int], padding: int):
  """Torch `Convolution` semantics: out[m] = sum_k x[s*m - p + k] w[k]."""
  ndim = kernel.ndim - 2
  return lax.conv_general_dilated(
      x, kernel, window_strides=tuple(strides), padding=[(padding, padding)] * ndim,
      dimension_numbers=_dimension_numbers(ndim))


def conv_fast(x, kernel):
  """k=4, s=2, p=1 conv as pad + space-to-depth + 2-tap valid conv (exact)."""
  ndim = kernel.ndim - 2
  c_in, c_out = kernel.shape[-2:]
  x = jnp.pad(x, [(0, 0)] + [(1, 1)] * ndim + [(0, 0)])
  batch, sizes = x.shape[0], x.shape[1:-1]
  if any(n % 2 for n in sizes):
    raise ValueError(f"stride-2 conv needs even spatial sizes, got {tuple(n - 2 for n in sizes)}")
  split = [batch]
  for n in sizes:
    split += [n // 2, 2]
  x = x.reshape(split + [c_in])
  # (B, n1, b1, n2, b2, .., C) -> (B, n1, n2, .., b1, b2, .., C)
  x = x.transpose([0] + [1 + 2 * a for a in range(ndim)] + [2 + 2 * a for a in range(ndim)]
                  + [1 + 2 * ndim])
  x = x.reshape((batch,) + tuple(n // 2 for n in sizes) + (2 ** ndim * c_in,))
  # kernel index k = 2a + b: (a1, b1, a2, b2, .., I, O) -> (a1, a2, .., b1, b2, .., I, O)
  k = kernel.reshape((2, 2) * ndim + (c_in, c_out))
  k = k.transpose([2 * a for a in range(ndim)] + [2 * a + 1 for a in range(ndim)]
                  + [2 * ndim, 2 * ndim + 1])
  k = k.reshape((2,) * ndim + (2 ** ndim * c_in, c_out))
  return _two_tap_conv(x, k)


def _is_projection(x_shape, kernel_size, strides, padding) -> bool:
  """Stride 1, no padding, and each axis has either kernel 1 or input size 1."""
  return padding == 0 and all(s == 1 for s in strides) and all(
      k == 1 or n == 1 for k, n in zip(kernel_size, x_shape[1:-1]))


def conv_transpose_projection(x, kernel):
  """Stride-1 transposed conv whose kernel spreads 1-voxel axes out to the kernel size:
  out[.., o, ..] = sum_c x[.., 0, .., c] w[.., o, .., c, :] (a matmul, exactly)."""
  ndim = kernel.ndim - 2
  letters = "defghijk"
  x_sub, k_sub, out_sub = "", "", ""
  for axis in range(ndim):
    a = letters[axis]
    if kernel.shape[axis] == 1:  # passes through: kernel axis of size 1 is dropped
      x_sub += a
      out_sub += a
    else:  # input axis of size 1 is dropped, output takes the kernel's size
      k_sub += a
      out_sub += a
  squeeze_x = tuple(1 + a for a in range(ndim) if kernel.shape[a] != 1)
  squeeze_k = tuple(a for a in range(ndim) if kernel.shape[a] == 1)
  return jnp.einsum(f"b{x_sub}c,{k_sub}co->b{out_sub}o", jnp.squeeze(x, squeeze_x),
                    jnp.squeeze(kernel, squeeze_k))


def conv_full_window(x, kernel):
  """Valid conv whose kernel covers the whole input (one output voxel): a matmul, exactly."""
  batch = x.shape[0]
  y = x.reshape(batch, -1) @ kernel.reshape(-1, kernel.shape[-1])
  return y.reshape((batch,) + (1,) * (kernel.ndim - 2) + (kernel.shape[-1],))


class _TorchConvBase(nn.Module):
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] | None = None
  padding: int = 0
  impl: str = "fast"
  use_bias: bool = True
  # VGAN init (main.lua weights_init): weights N(0, 0.01), bias 0.
  kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.01)
  bias_init: nn.initializers.Initializer = nn.initializers.zeros
  dtype: jnp.dtype | None = None

  def _params(self, x):
    if self.impl not in IMPLS:
      raise ValueError(f"conv impl must be one of {IMPLS}, got {self.impl!r}")
    ndim = len(self.kernel_size)
    if x.ndim != ndim + 2:
      raise ValueError(f"{type(self).__name__} with a {ndim}-D kernel needs a {ndim + 2}-D input "
                       f"(batch, *spatial, channels); got shape {x.shape}")
    strides = tuple(self.strides or (1,) * ndim)
    kernel = self.param("kernel", self.kernel_init,
                        tuple(self.kernel_size) + (x.shape[-1], self.features), jnp.float32)
    bias = (self.param("bias", self.bias_init, (self.features,), jnp.float32)
            if self.use_bias else None)
    dtype = self.dtype or x.dtype
    return x.astype(dtype), kernel.astype(dtype), bias, strides

  def _finish(self, y, bias):
    return y if bias is None else y + bias.astype(y.dtype)


def _conv_transpose(x, kernel, strides, padding: int, impl: str):
  kernel_size = kernel.shape[:-2]
  if impl == "fast" and _is_fast_case(kernel_size, strides, padding):
    return conv_transpose_fast(x, kernel)
  if impl == "fast" and _is_projection(x.shape, kernel_size, strides, padding):
    return conv_transpose_projection(x, kernel)
  return conv_transpose_literal(x, kernel, strides, padding)


class ConvTranspose(_TorchConvBase):
  """Torch `SpatialFullConvolution` / `VolumetricFullConvolution` (2-D or 3-D)."""

  @nn.compact
  def __call__(self, x):
    x, kernel, bias, strides = self._params(x)
    return self._finish(_conv_transpose(x, kernel, strides, self.padding, self.impl), bias)


# Nearest-neighbour x2 then a k3 s1 p1 conv, per axis: output 2i takes w[-1] x[i-1] +
# (w[0] + w[1]) x[i], output 2i+1 takes (w[-1] + w[0]) x[i] + w[1] x[i+1]; that is the k4 s2 p1
# transposed conv (y[o] = sum_i x[i] k[o + 1 - 2i]) whose taps k[0..3] are these sums.
_RESIZE_TAPS = ((0, 0, 1), (0, 1, 1), (1, 1, 0), (1, 0, 0))


def resize_conv_kernel(kernel3):
  """The k4 s2 p1 transposed-conv kernel (4,)*n + (in, out) equal to nearest-neighbour x2
  followed by a k3 s1 p1 conv with `kernel3` ((3,)*n + (in, out)), zero padding included."""
  ndim = kernel3.ndim - 2
  taps = jnp.asarray(_RESIZE_TAPS, kernel3.dtype)
  for axis in range(ndim):
    kernel3 = jnp.moveaxis(jnp.tensordot(taps, kernel3, axes=([1], [axis])), 0, axis)
  return kernel3


class ResizeConv(_TorchConvBase):
  """Nearest-neighbour x2 upsampling then a k3 s1 p1 conv (Odena et al. 2016), 2-D or 3-D:
  kernel_size (3,)*n. Computed as the equal k4 s2 p1 transposed conv (`resize_conv_kernel`),
  so it costs what the paper's layer costs and uses the same fast paths (a direct k3 conv at
  the upsampled size made the CPU demo's whole train step 8x slower: 0.68 s vs 0.09 s)."""

  @nn.compact
  def __call__(self, x):
    x, kernel, bias, _ = self._params(x)
    ndim = len(self.kernel_size)
    if tuple(self.kernel_size) != (3,) * ndim:
      raise ValueError(f"ResizeConv takes a k3 kernel, got {tuple(self.kernel_size)}")
    y = _conv_transpose(x, resize_conv_kernel(kernel), (2,) * ndim, 1, self.impl)
    return self._finish(y, bias)


class Conv(_TorchConvBase):
  """Torch `SpatialConvolution` / `VolumetricConvolution` (2-D or 3-D)."""

  @nn.compact
  def __call__(self, x):
    x, kernel, bias, strides = self._params(x)
    if self.impl == "fast" and _is_fast_case(self.kernel_size, strides, self.padding):
      y = conv_fast(x, kernel)
    elif (self.impl == "fast" and self.padding == 0 and all(s == 1 for s in strides)
          and tuple(self.kernel_size) == x.shape[1:-1]):
      y = conv_full_window(x, kernel)
    else:
      y = conv_literal(x, kernel, strides, self.padding)
    return self._finish(y, bias)


def batch_norm(train: bool, epsilon: float, name: str | None = None, dtype=None) -> nn.BatchNorm:
  """Torch-style BatchNorm (momentum 0.1 => Flax 0.9) with DCGAN init: scale N(1, 0.02), bias 0."""
  return nn.BatchNorm(
      use_running_average=not train, momentum=0.9, epsilon=epsilon, dtype=dtype,
      scale_init=lambda key, shape, dtype=jnp.float32: 1.0 + 0.02 * jax.random.normal(key, shape, dtype),
      bias_init=nn.initializers.zeros, name=name)
