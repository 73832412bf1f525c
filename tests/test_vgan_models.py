"""VGAN generator/discriminator: paper shapes, the authors' parameter count, clear size errors."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvid.models import vgan


def _num_params(params) -> int:
  return sum(math.prod(x.shape) for x in jax.tree.leaves(params))


def _torch_count(layers):
  """Parameters of a Torch7 net given as ('conv', c_in, c_out, kernel) / ('bn', c) entries:
  conv weight + bias, BatchNorm weight + bias (running statistics are buffers)."""
  total = 0
  for layer in layers:
    if layer[0] == "conv":
      _, c_in, c_out, kernel = layer
      total += c_in * c_out * math.prod(kernel) + c_out
    else:
      total += 2 * layer[1]
  return total


# main.lua, written out layer by layer
AUTHORS_G = [
    ("conv", 100, 512, (4, 4)), ("bn", 512), ("conv", 512, 256, (4, 4)), ("bn", 256),
    ("conv", 256, 128, (4, 4)), ("bn", 128), ("conv", 128, 64, (4, 4)), ("bn", 64),
    ("conv", 64, 3, (4, 4)),
    ("conv", 100, 512, (2, 4, 4)), ("bn", 512), ("conv", 512, 256, (4, 4, 4)), ("bn", 256),
    ("conv", 256, 128, (4, 4, 4)), ("bn", 128), ("conv", 128, 64, (4, 4, 4)), ("bn", 64),
    ("conv", 64, 1, (4, 4, 4)), ("conv", 64, 3, (4, 4, 4)),
]
AUTHORS_D = [
    ("conv", 3, 64, (4, 4, 4)), ("conv", 64, 128, (4, 4, 4)), ("bn", 128),
    ("conv", 128, 256, (4, 4, 4)), ("bn", 256), ("conv", 256, 512, (4, 4, 4)), ("bn", 512),
    ("conv", 512, 2, (2, 4, 4)),
]
# main_conditional.lua
AUTHORS_COND_G = [
    ("conv", 3, 128, (4, 4)), ("conv", 128, 256, (4, 4)), ("bn", 256), ("conv", 256, 512, (4, 4)),
    ("bn", 512), ("conv", 512, 1024, (4, 4)), ("bn", 1024),
    ("conv", 1024, 512, (4, 4)), ("bn", 512), ("conv", 512, 256, (4, 4)), ("bn", 256),
    ("conv", 256, 128, (4, 4)), ("bn", 128), ("conv", 128, 3, (4, 4)),
    ("conv", 1024, 1024, (2, 1, 1)), ("bn", 1024), ("conv", 1024, 512, (4, 4, 4)), ("bn", 512),
    ("conv", 512, 256, (4, 4, 4)), ("bn", 256), ("conv", 256, 128, (4, 4, 4)), ("bn", 128),
    ("conv", 128, 1, (4, 4, 4)), ("conv", 128, 3, (4, 4, 4)),
]


def _init_shapes(module, *inputs):
  return jax.eval_shape(lambda: module.init(jax.random.key(0), *inputs, train=False))


def test_generator_parameter_count_equals_authors():
  variables = _init_shapes(vgan.Generator(), jnp.zeros((1, 100)))
  assert _num_params(variables["params"]) == _torch_count(AUTHORS_G)


def test_conditional_generator_parameter_count_equals_authors():
  g = vgan.Generator(conditional=True, channels=(1024, 512, 256, 128))
  variables = _init_shapes(g, jnp.zeros((1, 64, 64, 3)))
  assert _num_params(variables["params"]) == _torch_count(AUTHORS_COND_G)


def test_discriminator_parameter_count_equals_authors_up_to_one_logit():
  variables = _init_shapes(vgan.Discriminator(), jnp.zeros((1, 32, 64, 64, 3)))
  # one logit instead of a 2-way softmax: 512 * 2 * 32 + 2 -> 512 * 32 + 1
  assert _num_params(variables["params"]) == _torch_count(AUTHORS_D) - (512 * 32 + 1)


def test_paper_shapes_and_value_ranges():
  g = vgan.Generator(frames=8, height=16, width=16, channels=(16, 8))
  variables = g.init(jax.random.key(0), jnp.zeros((3, 100)), train=False)
  out, _ = g.apply(variables, jax.random.normal(jax.random.key(1), (3, 100)), train=True,
                   mutable=["batch_stats"])
  assert out["video"].shape == (3, 8, 16, 16, 3)
  assert out["foreground"].shape == (3, 8, 16, 16, 3)
  assert out["mask"].shape == (3, 8, 16, 16, 1)
  assert out["background"].shape == (3, 1, 16, 16, 3)  # one image, broadcast over time
  assert float(jnp.min(out["mask"])) >= 0.0 and float(jnp.max(out["mask"])) <= 1.0
  assert float(jnp.max(jnp.abs(out["video"]))) <= 1.0
  # G(z) = m * f + (1 - m) * b
  recomposed = out["mask"] * out["foreground"] + (1 - out["mask"]) * out["background"]
  np.testing.assert_allclose(out["video"], recomposed, atol=1e-6)


def test_paper_size_output_shapes():
  g_out = jax.eval_shape(lambda: vgan.Generator().init_with_output(
      jax.random.key(0), jnp.zeros((2, 100)), train=False)[0])
  assert g_out["video"].shape == (2, 32, 64, 64, 3)
  d_out = jax.eval_shape(lambda: vgan.Discriminator().init_with_output(
      jax.random.key(0), jnp.zeros((2, 32, 64, 64, 3)), train=False)[0])
  assert d_out.shape == (2,)


def test_batchnorm_init_follows_dcgan():
  variables = vgan.Generator(frames=8, height=16, width=16, channels=(256, 8)).init(
      jax.random.key(0), jnp.zeros((1, 100)), train=False)
  scale = variables["params"]["bn_fg_in"]["scale"]
  assert abs(float(jnp.mean(scale)) - 1.0) < 0.01 and 0.01 < float(jnp.std(scale)) < 0.03


@pytest.mark.parametrize("frames,height,width", [(30, 64, 64), (32, 60, 64), (8, 64, 64)])
def test_unsupported_clip_size_is_a_clear_error(frames, height, width):
  g = vgan.Generator(frames=frames, height=height, width=width)
  with pytest.raises(ValueError, match="multiples of 16"):
    g.init(jax.random.key(0), jnp.zeros((1, 100)), train=False)


@pytest.mark.parametrize("upsample,tower_kernel,out_kernel", [
    ("transposed", 4, 4), ("resize_out", 4, 3), ("resize", 3, 3)])
def test_upsample_option_changes_only_the_chosen_layers(upsample, tower_kernel, out_kernel):
  g = vgan.Generator(frames=8, height=16, width=16, channels=(16, 8), upsample=upsample)
  variables = g.init(jax.random.key(0), jnp.zeros((2, 100)), train=False)
  p = variables["params"]
  assert p["fg_tower"]["up0"]["kernel"].shape == (tower_kernel,) * 3 + (16, 8)
  assert p["bg_tower"]["up0"]["kernel"].shape == (tower_kernel,) * 2 + (16, 8)
  for name, ndim in (("fg_out", 3), ("mask_out", 3), ("bg_out", 2)):
    assert p[name]["kernel"].shape[:ndim] == (out_kernel,) * ndim
  out = g.apply(variables, jnp.ones((2, 100)), train=False)
  assert out["video"].shape == (2, 8, 16, 16, 3)


def test_unknown_upsample_is_a_clear_error():
  with pytest.raises(ValueError, match="upsample must be one of"):
    vgan.Generator(frames=8, height=16, width=16, channels=(16, 8), upsample="bilinear").init(
        jax.random.key(0), jnp.zeros((1, 100)), train=False)


def test_mask_composite_values_and_gradients_equal_the_plain_formula():
  # the custom VJP writes the mask's gradient as channel slices; it must be the formula's own
  from jaxvid.models.vgan import mask_composite
  keys = jax.random.split(jax.random.key(3), 4)
  mask = jax.nn.sigmoid(jax.random.normal(keys[0], (2, 4, 5, 6, 1)))
  foreground = jax.random.normal(keys[1], (2, 4, 5, 6, 3))
  weights = jax.random.normal(keys[3], (2, 4, 5, 6, 3))
  plain = lambda m, f, b: jnp.sum(weights * (m * f + (1.0 - m) * b))
  custom = lambda m, f, b: jnp.sum(weights * mask_composite(m, f, b))
  # VGAN's static background (one frame, broadcast over time) and one of every frame
  for frames in (1, 4):
    background = jax.random.normal(keys[2], (2, frames, 5, 6, 3))
    np.testing.assert_allclose(custom(mask, foreground, background),
                               plain(mask, foreground, background), rtol=1e-6)
    for got, want in zip(jax.grad(custom, (0, 1, 2))(mask, foreground, background),
                         jax.grad(plain, (0, 1, 2))(mask, foreground, background)):
      assert got.shape == want.shape
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
