"""3-D U-Net generator of the pose-conditioned video GAN: shapes, skips, fast == literal."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvid.models import unet3d


def _input(batch=2, frames=8, height=16, width=24, seed=0):
  rng = np.random.default_rng(seed)
  first = jnp.asarray(rng.uniform(-1, 1, (batch, height, width, 3)), jnp.float32)
  skeleton = jnp.asarray(rng.uniform(-1, 1, (batch, frames, height, width, 3)), jnp.float32)
  return unet3d.generator_input(first, skeleton), first, skeleton


def test_generator_input_tiles_the_first_frame_over_time():
  x, first, skeleton = _input()
  assert x.shape == (2, 8, 16, 24, 6)
  for t in range(8):
    np.testing.assert_array_equal(x[:, t, ..., :3], first)
  np.testing.assert_array_equal(x[..., 3:], skeleton)


def test_output_shape_range_and_parameter_layout():
  x, _, _ = _input()
  model = unet3d.UNet3D(channels=(8, 16, 32))
  variables = model.init(jax.random.key(0), x, train=False)
  out, _ = model.apply(variables, x, train=True, mutable=["batch_stats"])
  assert out.shape == (2, 8, 16, 24, 3)
  assert float(jnp.max(jnp.abs(out))) <= 1.0
  p = variables["params"]
  # the skip connections double the decoder's inputs: up0 sees up1's 16 + down1's 16 channels
  assert p["down0"]["kernel"].shape == (4, 4, 4, 6, 8)
  assert p["up1"]["kernel"].shape == (4, 4, 4, 32, 16)
  assert p["up0"]["kernel"].shape == (4, 4, 4, 32, 8)
  assert p["out"]["kernel"].shape == (4, 4, 4, 16, 3)
  assert "bn_down0" not in variables["batch_stats"]  # no BatchNorm on the first layer


def test_skip_connections_carry_the_input():
  """A change in one input voxel reaches the output through the first skip even when the
  bottleneck ignores it (zeroed bottom layer)."""
  x, _, _ = _input()
  model = unet3d.UNet3D(channels=(8, 16))
  variables = model.init(jax.random.key(0), x, train=False)
  params = jax.tree.map(lambda a: a, variables["params"])
  params["down1"] = jax.tree.map(jnp.zeros_like, params["down1"])
  run = lambda inp: model.apply({**variables, "params": params}, inp, train=False)
  delta = run(x.at[0, 3, 5, 7, 0].add(1.0)) - run(x)
  assert float(jnp.abs(delta).max()) > 0


def test_fast_and_literal_forms_agree():
  x, _, _ = _input()
  fast, literal = unet3d.UNet3D(channels=(8, 16), impl="fast"), unet3d.UNet3D(channels=(8, 16),
                                                                             impl="literal")
  variables = fast.init(jax.random.key(1), x, train=False)
  a, _ = fast.apply(variables, x, train=True, mutable=["batch_stats"])
  b, _ = literal.apply(variables, x, train=True, mutable=["batch_stats"])
  np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("frames,height,width", [(6, 16, 16), (8, 18, 16)])
def test_clip_sizes_the_unet_cannot_tile_are_clear_errors(frames, height, width):
  x, _, _ = _input(frames=frames, height=height, width=width)
  with pytest.raises(ValueError, match="multiples of 4"):
    unet3d.UNet3D(channels=(8, 16)).init(jax.random.key(0), x, train=False)


def test_the_codes_unet_at_its_clip_size():
  """ngf 32, four k4 levels and a bottleneck to 1x1x1 on the code's 32x64x80 clips: its
  k(4,6,6) down and k(4,6,7) up (T, H, W order), dropout on the two innermost decoder levels."""
  assert unet3d.bottleneck_kernels((2, 4, 5)) == ((4, 6, 6), (4, 6, 7))
  model = unet3d.UNet3D(channels=(32, 64, 128, 256), bottleneck=256, dropout=0.5)
  x = jnp.zeros((1, 32, 64, 80, 6))
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
  p = variables["params"]
  shapes = {name: p[name]["kernel"].shape for name in p if "kernel" in p[name]}
  assert shapes == {
      "down0": (4, 4, 4, 6, 32), "down1": (4, 4, 4, 32, 64), "down2": (4, 4, 4, 64, 128),
      "down3": (4, 4, 4, 128, 256), "down4": (4, 6, 6, 256, 256),  # 2x4x5 -> 1x1x1
      "up3": (4, 6, 7, 256, 256),  # 1x1x1 -> 2x4x5, then [d ; e3]
      "up2": (4, 4, 4, 512, 128), "up1": (4, 4, 4, 256, 64), "up0": (4, 4, 4, 128, 32),
      "out": (4, 4, 4, 64, 3)}
  out = jax.eval_shape(lambda v: model.apply(v, x, train=False), variables)
  assert out.shape == (1, 32, 64, 80, 3)


def test_dropout_is_the_generators_noise_in_training_only():
  x, _, _ = _input(frames=8, height=16, width=16)
  model = unet3d.UNet3D(channels=(8, 16), bottleneck=16, dropout=0.5)
  variables = model.init(jax.random.key(0), x, train=False)
  run = lambda key, train: model.apply(variables, x, train=train, mutable=["batch_stats"],
                                       rngs={"dropout": key})[0]
  assert not np.allclose(run(jax.random.key(1), True), run(jax.random.key(2), True))
  np.testing.assert_array_equal(run(jax.random.key(1), False), run(jax.random.key(2), False))
