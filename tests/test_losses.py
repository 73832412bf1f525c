"""Each loss against a value computed independently (numpy float64, explicit formulas)."""
import chex
import jax
import jax.numpy as jnp
import numpy as np

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
