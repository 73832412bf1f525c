"""Fast (phase-decomposed / matmul) and literal conv forms agree, and match Torch semantics."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvid.models import layers


def torch_conv_transpose_reference(x, w, stride, pad):
  """Independent loop implementation of Torch's FullConvolution: o = s*i - p + k."""
  batch, *sizes, c_in = x.shape
  kernel = w.shape[:-2]
  out_sizes = [(n - 1) * stride - 2 * pad + k for n, k in zip(sizes, kernel)]
  out = np.zeros([batch] + out_sizes + [w.shape[-1]])
  for i in itertools.product(*[range(n) for n in sizes]):
    for k in itertools.product(*[range(kk) for kk in kernel]):
      o = [stride * ii - pad + kk for ii, kk in zip(i, k)]
      if all(0 <= oo < n for oo, n in zip(o, out_sizes)):
        out[(slice(None),) + tuple(o)] += x[(slice(None),) + i] @ w[k]
  return out


def torch_conv_reference(x, w, stride, pad):
  """Independent loop implementation of Torch's Convolution: reads x[s*m - p + k]."""
  batch, *sizes, c_in = x.shape
  kernel = w.shape[:-2]
  out_sizes = [(n + 2 * pad - k) // stride + 1 for n, k in zip(sizes, kernel)]
  out = np.zeros([batch] + out_sizes + [w.shape[-1]])
  for m in itertools.product(*[range(n) for n in out_sizes]):
    for k in itertools.product(*[range(kk) for kk in kernel]):
      i = [stride * mm - pad + kk for mm, kk in zip(m, k)]
      if all(0 <= ii < n for ii, n in zip(i, sizes)):
        out[(slice(None),) + tuple(m)] += x[(slice(None),) + tuple(i)] @ w[k]
  return out


@pytest.mark.parametrize("ndim", [1, 2])
def test_literal_forms_match_torch_semantics(ndim):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2,) + (4,) * ndim + (3,))
  w = rng.normal(size=(4,) * ndim + (3, 2))
  got = layers.conv_transpose_literal(jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32),
                                      (2,) * ndim, 1)
  np.testing.assert_allclose(got, torch_conv_transpose_reference(x, w, 2, 1), atol=1e-4)
  got = layers.conv_literal(jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32), (2,) * ndim, 1)
  np.testing.assert_allclose(got, torch_conv_reference(x, w, 2, 1), atol=1e-4)


def _apply_both(module_cls, kwargs, x):
  """Same parameters, both forms: outputs and gradients w.r.t. input and parameters."""
  literal = module_cls(impl="literal", **kwargs)
  fast = module_cls(impl="fast", **kwargs)
  params = literal.init(jax.random.key(1), x)
  cotangent = None
  results = {}
  for name, module in (("literal", literal), ("fast", fast)):
    y = module.apply(params, x)
    if cotangent is None:
      cotangent = jax.random.normal(jax.random.key(2), y.shape)
    loss = lambda p, xx: jnp.sum(module.apply(p, xx) * cotangent)
    grads = jax.grad(loss, argnums=(0, 1))(params, x)
    results[name] = (y, grads)
  return results


CASES = [
    # (module, kwargs, input shape)
    (layers.ConvTranspose, dict(features=5, kernel_size=(4, 4), strides=(2, 2), padding=1), (2, 4, 6, 3)),
    (layers.ConvTranspose, dict(features=5, kernel_size=(4, 4, 4), strides=(2, 2, 2), padding=1), (2, 2, 4, 4, 3)),
    (layers.Conv, dict(features=5, kernel_size=(4, 4), strides=(2, 2), padding=1), (2, 8, 6, 3)),
    (layers.Conv, dict(features=5, kernel_size=(4, 4, 4), strides=(2, 2, 2), padding=1), (2, 4, 8, 8, 3)),
    # projections: z -> 2x4x4 volume, 4x4 map -> (2,1,1) in time, final full-window logit
    (layers.ConvTranspose, dict(features=5, kernel_size=(2, 4, 4)), (2, 1, 1, 1, 7)),
    (layers.ConvTranspose, dict(features=5, kernel_size=(2, 1, 1)), (2, 1, 4, 4, 7)),
    (layers.Conv, dict(features=1, kernel_size=(2, 4, 4)), (2, 2, 4, 4, 7)),
]


@pytest.mark.parametrize("module_cls,kwargs,shape", CASES)
def test_fast_and_literal_forms_agree_forward_and_gradient(module_cls, kwargs, shape):
  x = jax.random.normal(jax.random.key(0), shape)
  results = _apply_both(module_cls, kwargs, x)
  (y_lit, g_lit), (y_fast, g_fast) = results["literal"], results["fast"]
  assert y_lit.shape == y_fast.shape
  np.testing.assert_allclose(y_fast, y_lit, atol=1e-5, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(g_fast), jax.tree.leaves(g_lit)):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_transposed_conv_doubles_every_axis():
  x = jnp.ones((1, 2, 4, 4, 3))
  layer = layers.ConvTranspose(8, (4, 4, 4), (2, 2, 2), 1)
  y = layer.apply(layer.init(jax.random.key(0), x), x)
  assert y.shape == (1, 4, 8, 8, 8)


def test_paper_init_statistics():
  layer = layers.Conv(256, (4, 4, 4), (2, 2, 2), 1)
  params = layer.init(jax.random.key(0), jnp.ones((1, 4, 4, 4, 64)))["params"]
  assert abs(float(jnp.std(params["kernel"])) - 0.01) < 5e-4
  assert float(jnp.max(jnp.abs(params["bias"]))) == 0.0


def test_bad_impl_is_a_clear_error():
  layer = layers.Conv(4, (4, 4), (2, 2), 1, impl="cudnn")
  with pytest.raises(ValueError, match="conv impl must be one of"):
    layer.init(jax.random.key(0), jnp.ones((1, 8, 8, 3)))


@pytest.mark.parametrize("ndim,impl", [(1, "literal"), (2, "fast"), (2, "literal"), (3, "fast"),
                                       (3, "literal")])
def test_resize_conv_is_nearest_upsampling_then_a_k3_conv(ndim, impl):
  """ResizeConv, computed as a k4 s2 transposed conv, equals repeating every voxel 2x per axis
  and then the k3 s1 p1 conv (Torch semantics, by the loop reference), values and gradient."""
  x = jax.random.normal(jax.random.key(ndim), (2,) + (3,) * ndim + (4,))
  layer = layers.ResizeConv(5, (3,) * ndim, impl=impl)
  variables = layer.init(jax.random.key(1), x)
  upsampled = np.asarray(x)
  for axis in range(1, ndim + 1):
    upsampled = np.repeat(upsampled, 2, axis=axis)
  kernel, bias = (np.asarray(variables["params"][k]) for k in ("kernel", "bias"))
  expected = torch_conv_reference(upsampled, kernel, 1, 1) + bias
  np.testing.assert_allclose(layer.apply(variables, x), expected, atol=1e-5, rtol=1e-5)

  def direct(params, x):  # the same thing by jnp.repeat + a literal conv
    for axis in range(1, ndim + 1):
      x = jnp.repeat(x, 2, axis=axis)
    return layers.Conv(5, (3,) * ndim, (1,) * ndim, 1, impl="literal").apply({"params": params}, x)
  loss = lambda f: lambda p, x: jnp.sum(jnp.sin(f(p, x)))
  ours = jax.grad(loss(lambda p, x: layer.apply({"params": p}, x)), argnums=(0, 1))
  for a, b in zip(jax.tree.leaves(ours(variables["params"], x)),
                  jax.tree.leaves(jax.grad(loss(direct), argnums=(0, 1))(variables["params"], x))):
    np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_resize_conv_cannot_make_a_checkerboard_from_a_constant():
  """A transposed k4 s2 conv maps a constant input to a period-2 pattern unless its taps are
  balanced; nearest x2 + k3 conv gives a constant away from the border whatever its kernel."""
  x = jnp.ones((1, 6, 6, 2))
  resize = layers.ResizeConv(3, (3, 3))
  y = np.asarray(resize.apply(resize.init(jax.random.key(0), x), x))[0, 1:-1, 1:-1]
  np.testing.assert_allclose(y, np.broadcast_to(y[:1, :1], y.shape), atol=1e-6)
  transposed = layers.ConvTranspose(3, (4, 4), (2, 2), 1)
  y = np.asarray(transposed.apply(transposed.init(jax.random.key(0), x), x))[0, 1:-1, 1:-1]
  assert np.abs(y[0::2, 0::2] - y[1::2, 1::2]).max() > 1e-3
