"""pix2pixHD networks: parameter counts from the Torch layer lists, shapes, Torch semantics."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvid.models import pix2pixhd


def torch_conv(cin, cout, k):
  return cin * cout * k * k + cout  # weight + bias (ConvTranspose2d has the same count)


def count(params):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))


def global_generator_torch_count(input_nc, ngf, n_down, n_blocks, output_nc=3, output_layer=True):
  n = torch_conv(input_nc, ngf, 7)
  n += sum(torch_conv(ngf * 2 ** i, ngf * 2 ** (i + 1), 3) for i in range(n_down))
  n += n_blocks * 2 * torch_conv(ngf * 2 ** n_down, ngf * 2 ** n_down, 3)
  n += sum(torch_conv(ngf * 2 ** (n_down - i), ngf * 2 ** (n_down - i - 1), 3)
           for i in range(n_down))
  return n + (torch_conv(ngf, output_nc, 7) if output_layer else 0)


def init_params(module, shape):
  return jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros(shape)))["params"]


def test_global_generator_has_pix2pixhd_parameter_count():
  # EDN's input: rendered pose (3) + previous generated frame (3) at pix2pixHD's default widths.
  params = init_params(pix2pixhd.GlobalGenerator(64, 4, 9), (1, 64, 32, 6))
  assert count(params) == global_generator_torch_count(6, 64, 4, 9)  # 182,452,675


def test_local_enhancer_has_pix2pixhd_parameter_count():
  params = init_params(pix2pixhd.LocalEnhancer(32, 4, 9, 3), (1, 64, 32, 6))
  expected = global_generator_torch_count(6, 64, 4, 9, output_layer=False)
  expected += torch_conv(6, 32, 7) + torch_conv(32, 64, 3) + 3 * 2 * torch_conv(64, 64, 3)
  expected += torch_conv(64, 32, 3) + torch_conv(32, 3, 7)
  assert count(params) == expected


def test_multiscale_discriminator_has_pix2pixhd_parameter_count_and_features():
  d = pix2pixhd.MultiscaleDiscriminator(num_d=2, ndf=64, n_layers=3)
  x = jnp.zeros((1, 64, 64, 12))
  params = init_params(d, x.shape)
  single = (torch_conv(12, 64, 4) + torch_conv(64, 128, 4) + torch_conv(128, 256, 4)
            + torch_conv(256, 512, 4) + torch_conv(512, 1, 4))
  assert count(params) == 2 * single
  out = jax.eval_shape(lambda p: d.apply({"params": p}, x), params)
  assert len(out) == 2 and all(len(o) == 5 for o in out)
  # k4 p2 convs: 64 -> 33 -> 17 -> 9 -> 10 -> 11 (Torch's sizes); the second scale sees 32x32
  assert [o.shape[1] for o in out[0]] == [33, 17, 9, 10, 11]
  assert out[1][-1].shape == (1, 7, 7, 1)


def test_transposed_conv_doubles_the_size_like_torch_output_padding():
  layer = pix2pixhd.ConvT3x3(5)
  x = jax.random.normal(jax.random.key(0), (2, 3, 4, 7))
  params = layer.init(jax.random.key(1), x)
  y = layer.apply(params, x)
  assert y.shape == (2, 6, 8, 5)
  # Torch's definition, written out: each input pixel (i, j) scatters the kernel around
  # (2i - 1 + a, 2j - 1 + b), a, b in 0..2, onto a (2H + 1) x (2W + 1) canvas cropped to 2H x 2W.
  k = np.asarray(params["params"]["kernel"])[::-1, ::-1]  # correlation <-> scatter
  xn = np.asarray(x)
  canvas = np.zeros((2, 2 * 3 + 2, 2 * 4 + 2, 5))
  for i in range(3):
    for j in range(4):
      canvas[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3] += np.einsum("bc,hwco->bhwo", xn[:, i, j], k)
  np.testing.assert_allclose(y, canvas[:, 1:7, 1:9], atol=1e-5)


def test_transposed_conv_and_its_gradients_equal_the_dilated_conv():
  """The phase-split form is the dilated conv of the docstring, values and gradients."""
  x = jax.random.normal(jax.random.key(0), (2, 3, 4, 6))
  kernel = jax.random.normal(jax.random.key(1), (3, 3, 6, 5))

  def dilated(x, kernel):
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), ((1, 2), (1, 2)), lhs_dilation=(2, 2),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

  np.testing.assert_allclose(pix2pixhd.conv_transpose_3x3_s2(x, kernel), dilated(x, kernel),
                             atol=1e-5)
  loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))
  for ours, ref in zip(jax.grad(loss(pix2pixhd.conv_transpose_3x3_s2), (0, 1))(x, kernel),
                       jax.grad(loss(dilated), (0, 1))(x, kernel)):
    np.testing.assert_allclose(ours, ref, atol=1e-4)


@pytest.mark.parametrize("stride,padding", [(2, 2), (1, 2), (1, 0)])
def test_conv_with_gemm_kernel_gradient_equals_the_plain_conv(stride, padding):
  x = jax.random.normal(jax.random.key(0), (2, 9, 11, 5))
  kernel = jax.random.normal(jax.random.key(1), (4, 4, 5, 7))
  plain = lambda x, k: pix2pixhd._conv_nhwc(x, k, stride, padding)
  gemm = lambda x, k: pix2pixhd.conv_gemm_weight_grad(x, k, stride, padding)
  np.testing.assert_allclose(gemm(x, kernel), plain(x, kernel), atol=1e-5)
  loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))
  for ours, ref in zip(jax.grad(loss(gemm), (0, 1))(x, kernel),
                       jax.grad(loss(plain), (0, 1))(x, kernel)):
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_literal_conv_impl_is_the_same_network_values_and_gradients():
  """conv_impl='literal' (accelerators) and 'fast' (XLA:CPU): same parameters, same function."""
  x = jax.random.normal(jax.random.key(0), (2, 16, 8, 6))
  for make in (lambda impl: pix2pixhd.LocalEnhancer(4, 1, 1, 1, conv_impl=impl),
               lambda impl: pix2pixhd.MultiscaleDiscriminator(2, 4, 2, conv_impl=impl)):
    fast, literal = make("fast"), make("literal")
    params = fast.init(jax.random.key(1), x)
    assert jax.tree.structure(params) == jax.tree.structure(literal.init(jax.random.key(1), x))
    loss = lambda module: lambda p, x: sum(jnp.sum(jnp.sin(leaf))
                                           for leaf in jax.tree.leaves(module.apply(p, x)))
    np.testing.assert_allclose(loss(literal)(params, x), loss(fast)(params, x), rtol=1e-5)
    grads = [jax.grad(loss(m), (0, 1))(params, x) for m in (literal, fast)]
    for ours, ref in zip(*(jax.tree.leaves(g) for g in grads)):
      np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=1e-4)


def test_avg_pool_excludes_padding_from_the_mean():
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  y = np.asarray(pix2pixhd.avg_pool_3x3_s2(x))[0, ..., 0]
  assert y.shape == (2, 2)
  assert y[0, 0] == pytest.approx(np.mean([0, 1, 4, 5]))  # corner: 4 real pixels, not 9
  assert y[1, 1] == pytest.approx(np.mean([5, 6, 7, 9, 10, 11, 13, 14, 15]))


def test_generator_output_range_and_size_errors():
  g = pix2pixhd.GlobalGenerator(8, 2, 1)
  x = jax.random.normal(jax.random.key(0), (2, 16, 8, 6))
  params = g.init(jax.random.key(1), x)
  y = g.apply(params, x)
  assert y.shape == (2, 16, 8, 3) and float(jnp.abs(y).max()) <= 1.0
  with pytest.raises(ValueError, match="divisible by 4"):
    g.init(jax.random.key(1), jnp.zeros((1, 18, 8, 6)))
