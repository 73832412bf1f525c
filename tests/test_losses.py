"""Each loss against a value computed independently (numpy float64, explicit formulas)."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvid import losses


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


REAL = np.array([2.0, -1.0, 0.3])
FAKE = np.array([0.5, -3.0, 1.5])


def test_discriminator_loss_matches_paper_equation():
  # L_D = -E[log D(x)] - E[log(1 - D(G(z)))]
  expected = -np.mean(np.log(_sigmoid(REAL))) - np.mean(np.log(1.0 - _sigmoid(FAKE)))
  got = losses.vgan_discriminator_loss(jnp.asarray(REAL), jnp.asarray(FAKE))
  chex.assert_trees_all_close(got, jnp.float32(expected), rtol=1e-6)


def test_generator_loss_is_non_saturating():
  # L_G = -E[log D(G(z))], not E[log(1 - D(G(z)))]
  expected = -np.mean(np.log(_sigmoid(FAKE)))
  got = losses.vgan_generator_loss(jnp.asarray(FAKE))
  chex.assert_trees_all_close(got, jnp.float32(expected), rtol=1e-6)
  saturating = np.mean(np.log(1.0 - _sigmoid(FAKE)))
  assert abs(float(got) - saturating) > 0.1


def test_gan_losses_finite_at_extreme_logits():
  big = jnp.array([100.0, -100.0])
  for real, fake in [(big, big), (-big, big), (jnp.full(2, 100.0), jnp.full(2, -100.0))]:
    d = losses.vgan_discriminator_loss(real, fake)
    g = losses.vgan_generator_loss(fake)
    grads = jax.grad(lambda r, f: losses.vgan_discriminator_loss(r, f)
                     + losses.vgan_generator_loss(f), argnums=(0, 1))(real, fake)
    chex.assert_tree_all_finite((d, g, grads))
  # D perfectly wrong on both: -log(sigmoid(-100)) + -log(1 - sigmoid(100)) = 100 + 100
  chex.assert_trees_all_close(losses.vgan_discriminator_loss(jnp.array([-100.0]), jnp.array([100.0])),
                              jnp.float32(200.0), rtol=1e-6)
  chex.assert_trees_all_close(losses.vgan_generator_loss(jnp.array([-100.0])), jnp.float32(100.0),
                              rtol=1e-6)
  chex.assert_trees_all_close(losses.vgan_generator_loss(jnp.array([100.0])), jnp.float32(0.0),
                              atol=1e-6)


def test_mask_sparsity_is_lambda_times_mean_abs():
  mask = jnp.array([[0.2, 0.4], [0.6, 0.8]])  # mean 0.5
  chex.assert_trees_all_close(losses.mask_sparsity_loss(mask), jnp.float32(0.05), rtol=1e-6)
  chex.assert_trees_all_close(losses.mask_sparsity_loss(mask, weight=2.0), jnp.float32(1.0),
                              rtol=1e-6)
  # a mean, not a sum: doubling the number of voxels with the same values keeps the loss
  chex.assert_trees_all_close(losses.mask_sparsity_loss(jnp.tile(mask, (3, 1))), jnp.float32(0.05),
                              rtol=1e-6)


def test_first_frame_l1_touches_only_frame_zero():
  rng = np.random.default_rng(0)
  video = rng.uniform(-1, 1, (2, 3, 4, 4, 3))
  frame = rng.uniform(-1, 1, (2, 4, 4, 3))
  expected = 10.0 * np.mean(np.abs(video[:, 0] - frame))
  got = losses.first_frame_l1_loss(jnp.asarray(video), jnp.asarray(frame))
  chex.assert_trees_all_close(got, jnp.float32(expected), rtol=1e-6)
  later = video.copy()
  later[:, 1:] += 5.0
  chex.assert_trees_all_close(losses.first_frame_l1_loss(jnp.asarray(later), jnp.asarray(frame)),
                              got, rtol=1e-6)


# ---------------------------------------------------------------- The Pose Knows

def test_pose_vae_reconstruction_is_mean_squared_error_with_optional_mask():
  rng = np.random.default_rng(0)
  pred, target = rng.normal(size=(2, 3, 18, 2)), rng.normal(size=(2, 3, 18, 2))
  chex.assert_trees_all_close(losses.pose_vae_reconstruction_loss(jnp.asarray(pred), jnp.asarray(target)),
                              jnp.float32(np.mean((pred - target) ** 2)), rtol=1e-5)
  mask = np.zeros((2, 3, 18))
  mask[0, 1, 4] = 1.0
  expected = np.mean((pred[0, 1, 4] - target[0, 1, 4]) ** 2)
  chex.assert_trees_all_close(
      losses.pose_vae_reconstruction_loss(jnp.asarray(pred), jnp.asarray(target), jnp.asarray(mask)),
      jnp.float32(expected), rtol=1e-5)


def test_kl_matches_closed_form_and_is_zero_at_the_prior():
  mean = np.array([[0.5, -1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
  log_var = np.array([[0.0, np.log(2.0), -1.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
  var = np.exp(log_var)
  per_row = 0.5 * np.sum(mean ** 2 + var - log_var - 1.0, axis=-1)
  chex.assert_trees_all_close(
      losses.gaussian_kl_to_standard_normal(jnp.asarray(mean), jnp.asarray(log_var)),
      jnp.float32(per_row.sum()), rtol=1e-6)
  assert per_row[1] == 0.0
  # Monte-Carlo check of the closed form for the first row: E_q[log q - log p]
  rng = np.random.default_rng(0)
  z = mean[0] + np.sqrt(var[0]) * rng.normal(size=(200_000, 4))
  log_q = -0.5 * np.sum((z - mean[0]) ** 2 / var[0] + log_var[0] + np.log(2 * np.pi), axis=-1)
  log_p = -0.5 * np.sum(z ** 2 + np.log(2 * np.pi), axis=-1)
  assert abs(np.mean(log_q - log_p) - per_row[0]) < 0.02
  chex.assert_trees_all_close(losses.pose_vae_loss(jnp.float32(2.0), jnp.float32(4.0)),
                              jnp.float32(0.99975 * 2.0 + 0.00025 * 4.0), rtol=1e-6)


def test_kl_at_the_trainers_shape_sums_every_latent():
  """(B, 5 future steps, 4): the code sums over the batch and all 20 latents; the paper's KL is one
  sample's whole latent (20 summed), averaged over the batch. Neither averages over the steps."""
  rng = np.random.default_rng(1)
  mean, log_var = rng.normal(size=(6, 5, 4)), rng.normal(0, 0.5, size=(6, 5, 4))
  kl = 0.5 * (mean ** 2 + np.exp(log_var) - log_var - 1.0)
  args = jnp.asarray(mean, jnp.float32), jnp.asarray(log_var, jnp.float32)
  chex.assert_trees_all_close(losses.gaussian_kl_to_standard_normal(*args, "sum"),
                              jnp.float32(kl.sum()), rtol=1e-5)
  chex.assert_trees_all_close(losses.gaussian_kl_to_standard_normal(*args, "per_sample"),
                              jnp.float32(kl.reshape(6, -1).sum(-1).mean()), rtol=1e-5)
  with pytest.raises(ValueError, match="reduction"):
    losses.gaussian_kl_to_standard_normal(*args, "mean")


LOGITS = np.array([2.0, -0.5, 1.0, 0.3, -2.0, 4.0])  # M = 6: three real, three generated


def _bce(x, label):
  p = _sigmoid(x)
  return -(label * np.log(p) + (1 - label) * np.log(1 - p))


def test_pose_gan_discriminator_loss_sum_and_mean_reductions():
  real, fake = LOGITS[:3], LOGITS[3:]
  chex.assert_trees_all_close(
      losses.pose_gan_discriminator_loss(jnp.asarray(LOGITS), reduction="sum"),
      jnp.float32(_bce(real, 1).sum() + _bce(fake, 0).sum()), rtol=1e-6)
  chex.assert_trees_all_close(
      losses.pose_gan_discriminator_loss(jnp.asarray(LOGITS)),
      jnp.float32(_bce(real, 1).mean() + _bce(fake, 0).mean()), rtol=1e-6)


def test_pose_gan_losses_touch_the_right_half_of_the_batch():
  d_grad = jax.grad(lambda x: losses.pose_gan_discriminator_loss(x))(jnp.asarray(LOGITS))
  assert (np.asarray(d_grad[:3]) < 0).all() and (np.asarray(d_grad[3:]) > 0).all()
  rng = np.random.default_rng(0)
  gen, tgt = rng.uniform(-1, 1, (3, 2, 4, 4, 3)), rng.uniform(-1, 1, (3, 2, 4, 4, 3))
  g = lambda x: losses.pose_gan_generator_loss(x, jnp.asarray(gen), jnp.asarray(tgt))
  g_grad = np.asarray(jax.grad(g)(jnp.asarray(LOGITS)))
  np.testing.assert_array_equal(g_grad[:3], 0.0)  # real half untouched by L_G
  assert (g_grad[3:] < 0).all()
  # alpha = 1000 on the code's pixels (x / 255, span 1): the [-1, 1] pixels' L1 counts half
  code_scale = lambda v: (v + 1.0) / 2.0
  expected = _bce(LOGITS[3:], 1).mean() + 1000.0 * np.mean(np.abs(code_scale(gen)
                                                                    - code_scale(tgt)))
  chex.assert_trees_all_close(g(jnp.asarray(LOGITS)), jnp.float32(expected), rtol=1e-5)
  expected_sum = _bce(LOGITS[3:], 1).sum() + 2.0 * np.sum(np.abs(gen - tgt))
  chex.assert_trees_all_close(
      losses.pose_gan_generator_loss(jnp.asarray(LOGITS), jnp.asarray(gen), jnp.asarray(tgt),
                                     alpha=2.0, reduction="sum", alpha_pixel_span=2.0),
      jnp.float32(expected_sum), rtol=1e-5)


def test_pose_gan_losses_finite_at_extreme_logits_and_check_batch():
  extreme = jnp.array([100.0, -100.0, 100.0, -100.0])
  video = jnp.zeros((2, 1, 2, 2, 3))
  chex.assert_tree_all_finite((losses.pose_gan_discriminator_loss(extreme),
                               losses.pose_gan_generator_loss(extreme, video, video)))
  with pytest.raises(ValueError, match="M even"):
    losses.pose_gan_discriminator_loss(jnp.zeros(3))


# ----- Everybody Dance Now -----

def test_gan_loss_bce_and_lsgan_match_their_formulas():
  logits = np.array([[2.0, -1.0], [0.0, 3.5]])
  d = _sigmoid(logits)
  np.testing.assert_allclose(losses.gan_loss(jnp.asarray(logits), True, "bce"),
                             np.mean(-np.log(d)), rtol=1e-6)
  np.testing.assert_allclose(losses.gan_loss(jnp.asarray(logits), False, "bce"),
                             np.mean(-np.log(1 - d)), rtol=1e-6)
  np.testing.assert_allclose(losses.gan_loss(jnp.asarray(logits), True, "lsgan"),
                             np.mean((logits - 1) ** 2), rtol=1e-6)
  np.testing.assert_allclose(losses.gan_loss(jnp.asarray(logits), False, "lsgan"),
                             np.mean(logits ** 2), rtol=1e-6)
  assert np.isfinite(float(losses.gan_loss(jnp.array([100.0, -100.0]), True, "bce")))
  with pytest.raises(ValueError, match="bce"):
    losses.gan_loss(jnp.zeros(2), True, "wgan")


def _fake_d_outputs(seed, scales=2, layers=3):
  """Per scale: `layers + 1` feature maps then the patch logits, like NLayerDiscriminator."""
  rng = np.random.default_rng(seed)
  return [[rng.standard_normal((2, 4, 4, 3)) for _ in range(layers + 1)]
          + [rng.standard_normal((2, 3, 3, 1))] for _ in range(scales)]


def test_smoothing_discriminator_loss_sums_scales():
  real, fake = _fake_d_outputs(0), _fake_d_outputs(1)
  expected = sum(np.mean(-np.log(_sigmoid(r[-1]))) + np.mean(-np.log(1 - _sigmoid(f[-1])))
                 for r, f in zip(real, fake))
  got = losses.smoothing_discriminator_loss(jax.tree.map(jnp.asarray, real),
                                            jax.tree.map(jnp.asarray, fake))
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_feature_matching_uses_pix2pixhd_weights_and_skips_logits():
  real, fake = _fake_d_outputs(2), _fake_d_outputs(3)
  # num_D = 2, L = 4 intermediate maps: weight (1/2) * (4/4) on each map's mean |diff|
  expected = sum(0.5 * 1.0 * np.mean(np.abs(f - r))
                 for rs, fs in zip(real, fake) for r, f in zip(rs[:-1], fs[:-1]))
  got = losses.feature_matching_loss(jax.tree.map(jnp.asarray, real),
                                     jax.tree.map(jnp.asarray, fake))
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  # no gradient into the real features
  grads = jax.grad(lambda r: losses.feature_matching_loss(r, jax.tree.map(jnp.asarray, fake)))(
      jax.tree.map(jnp.asarray, real))
  assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(grads))


def test_perceptual_loss_weights_relu_layers_1_32_to_1():
  rng = np.random.default_rng(4)
  gen = [rng.standard_normal((1, 8 // 2 ** i + 1, 5, 2)) for i in range(5)]
  tgt = [rng.standard_normal(g.shape) for g in gen]
  expected = sum(w * np.mean(np.abs(g - t))
                 for w, g, t in zip([1 / 32, 1 / 16, 1 / 8, 1 / 4, 1], gen, tgt))
  np.testing.assert_allclose(losses.perceptual_loss([jnp.asarray(g) for g in gen],
                                                    [jnp.asarray(t) for t in tgt]),
                             expected, rtol=1e-5)
  with pytest.raises(ValueError, match="weights"):
    losses.perceptual_loss([jnp.zeros(2)], [jnp.zeros(2)])


def test_hinge_losses_by_hand():
  real, fake = jnp.array([2.0, 0.5, -1.0]), jnp.array([-2.0, 0.0, 0.5])
  # D: mean(max(0, 1 - [2, .5, -1])) + mean(max(0, 1 + [-2, 0, .5])) = (0+.5+2)/3 + (0+1+1.5)/3
  chex.assert_trees_all_close(losses.hinge_discriminator_loss(real, fake), 5.0 / 3, atol=1e-6)
  chex.assert_trees_all_close(losses.hinge_generator_loss(fake), 0.5, atol=1e-6)


def test_r1_penalty_is_half_gamma_times_the_mean_squared_gradient_norm():
  grads = jnp.array([[[1.0, 2.0], [0.0, 2.0]], [[3.0, 0.0], [0.0, 0.0]]])  # norms^2: 9 and 9
  chex.assert_trees_all_close(losses.r1_penalty(grads, gamma=10.0), 0.5 * 10.0 * 9.0, atol=1e-5)
  # against the gradient of a known function: l(x) = sum(w * x) has grad w for every sample
  w = np.array([0.5, -1.0, 2.0], np.float32)
  x = jnp.ones((4, 3))
  g = jax.grad(lambda v: jnp.sum(v @ w))(x)
  chex.assert_trees_all_close(losses.r1_penalty(g, gamma=2.0), float(np.sum(w ** 2)), atol=1e-5)


def test_classification_cross_entropy_matches_numpy():
  logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
  labels = np.array([0, 1])
  by_hand = np.mean([-np.log(np.exp(l[y]) / np.exp(l).sum()) for l, y in zip(logits, labels)])
  chex.assert_trees_all_close(losses.classification_cross_entropy(logits, labels), by_hand,
                              rtol=1e-6)
