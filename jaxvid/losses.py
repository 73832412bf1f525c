"""Paper losses as pure functions of logits / tensors. Each docstring states the equation.

All GAN terms take raw discriminator logits `l` with D(x) = sigmoid(l), and are written with
softplus so they stay finite for any logit: -log sigmoid(l) = softplus(-l) and
-log(1 - sigmoid(l)) = softplus(l).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def vgan_discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """VGAN discriminator loss (Vondrick et al. 2016, eq. 1 for D):

      L_D = -E_x[log D(x)] - E_z[log(1 - D(G(z)))]

  Expectations are batch means. (The authors' Torch code reports this divided by 2; the
  factor only rescales gradients, which Adam undoes.)
  """
  return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def vgan_generator_loss(fake_logits: jax.Array) -> jax.Array:
  """Non-saturating generator loss (Goodfellow et al. 2014; the VGAN code's choice):

      L_G = -E_z[log D(G(z))]
  """
  return jnp.mean(jax.nn.softplus(-fake_logits))


def mask_sparsity_loss(mask: jax.Array, weight: float = 0.1) -> jax.Array:
  """VGAN mask regulariser that favours the static background stream:

      L_mask = lambda * mean_{b,t,h,w} |m(z)_{t,h,w}|,   lambda = 0.1

  A mean over all mask voxels, as Torch's `nn.L1Penalty(lambda, sizeAverage=true)` computes.
  """
  return weight * jnp.mean(jnp.abs(mask))


def first_frame_l1_loss(video: jax.Array, first_frame: jax.Array, weight: float = 10.0
                        ) -> jax.Array:
  """Conditional VGAN reconstruction term (main_conditional.lua, `AbsCriterion` * lambda):

      L_L1 = lambda * mean_{b,h,w,c} |G(x_0)_{t=0} - x_0|,   lambda = 10

  video: (B, T, H, W, C) generated clip; first_frame: (B, H, W, C) the conditioning frame.
  """
  return weight * jnp.mean(jnp.abs(video[:, 0] - first_frame))


# ----------------------------------------------------------------------------------------------
# Stabilisers from the literature (not in the papers): options of the CPU demos, off at :paper

def hinge_discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """Hinge loss for D (Lim & Ye 2017; Miyato et al. 2018, eq. 16):

      L_D = E_x[max(0, 1 - l(x))] + E_z[max(0, 1 + l(G(z)))]
  """
  return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def hinge_generator_loss(fake_logits: jax.Array) -> jax.Array:
  """Hinge loss for G (Miyato et al. 2018, eq. 17):  L_G = -E_z[l(G(z))]."""
  return -jnp.mean(fake_logits)


def r1_penalty(real_input_grads: jax.Array, gamma: float) -> jax.Array:
  """R1 gradient penalty on real data (Mescheder, Geiger, Nowozin 2018, eq. 9):

      R1 = gamma / 2 * E_x ||grad_x l(x)||^2

  real_input_grads: (B, ...) the gradient of D's logit with respect to each real input (for a
  batch, the gradient of the sum of the logits); the squared norm is summed over each sample's
  elements and averaged over the batch.
  """
  flat = real_input_grads.reshape(real_input_grads.shape[0], -1).astype(jnp.float32)
  return 0.5 * gamma * jnp.mean(jnp.sum(jnp.square(flat), axis=1))


# ----------------------------------------------------------------------------------------------
# The Pose Knows (Walker et al. 2017)

def _reduce(x: jax.Array, reduction: str) -> jax.Array:
  if reduction == "mean":
    return jnp.mean(x)
  if reduction == "sum":
    return jnp.sum(x)
  raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def pose_vae_reconstruction_loss(predicted: jax.Array, target: jax.Array,
                                 mask: jax.Array | None = None) -> jax.Array:
  """One reconstruction term of the pose-VAE (the code's MSECriterion, averaged):

      L_rec = mean_{b,t,i} (Y_hat_{b,t,i} - Y_{b,t,i})^2

  predicted, target: (B, T, ...) motion, e.g. the code's directions (B, T, 36) or magnitudes
  (B, T, 2), each its own term. `mask` (B, T, ...) without the last axis, if given, restricts
  the mean to the entries marked 1.
  """
  err = jnp.square(predicted - target)
  if mask is None:
    return jnp.mean(err)
  weight = jnp.broadcast_to(mask[..., None], err.shape)
  return jnp.sum(err * weight) / jnp.maximum(jnp.sum(weight), 1.0)


def gaussian_kl_to_standard_normal(mean: jax.Array, log_var: jax.Array,
                                   reduction: str = "sum") -> jax.Array:
  """KL of the approximate posterior Q = N(mu, diag(sigma^2)) from the prior N(0, I):

      KL(Q || N(0, I)) = 1/2 * sum_d (mu_d^2 + sigma_d^2 - log sigma_d^2 - 1)

  mean, log_var: (B, ..., latent), e.g. (B, 5 future steps, 4) = 20 latents per sample.
  reduction='sum' (the authors' code, VAE-Torch's KLDCriterion): summed over the batch and every
  latent. 'per_sample' (the paper: the KL of one sample's whole latent): summed over every latent
  of a sample, averaged over the batch. 'sum' is 'per_sample' times B.
  """
  kl = 0.5 * (jnp.square(mean) + jnp.exp(log_var) - log_var - 1.0)
  if reduction == "sum":
    return jnp.sum(kl)
  if reduction == "per_sample":
    return jnp.mean(jnp.sum(kl.reshape(kl.shape[0], -1), axis=-1))
  raise ValueError(f"reduction must be 'sum' or 'per_sample', got {reduction!r}")


def pose_vae_loss(reconstruction: jax.Array, kl: jax.Array, reconstruction_weight: float = 0.99975,
                  kl_weight: float = 0.00025) -> jax.Array:
  """L = w_rec * L_rec + w_KL * KL, with the authors' code weights 0.99975 / 0.00025
  (0.9995 / 0.0005 from iteration 60k). In the code L_rec is the sum of the averaged MSEs
  (future directions + future magnitudes; the past decoder's two MSEs train alongside at
  weight ~1) and KL is summed over the batch (`gaussian_kl_to_standard_normal`)."""
  return reconstruction_weight * reconstruction + kl_weight * kl


def pose_gan_discriminator_loss(logits: jax.Array, reduction: str = "mean") -> jax.Array:
  """Pose-conditioned video GAN, discriminator (paper eq.), batch of M = real half + fake half:

      L_D = sum_{i=1}^{M/2} l(D(V_i), 1) + sum_{i=M/2+1}^{M} l(D(G(I, S_T)), 0)

  l is binary cross-entropy on D's logit: l(x, 1) = softplus(-x), l(x, 0) = softplus(x).
  logits: (M,), the first M/2 for real videos, the last M/2 for generated ones.
  reduction='sum' is the equation as written; 'mean' (default) divides by M/2 per half, as
  Torch's BCECriterion (sizeAverage) in the authors' code does.
  """
  half = _half(logits)
  return (_reduce(jax.nn.softplus(-logits[:half]), reduction)
          + _reduce(jax.nn.softplus(logits[half:]), reduction))


def pose_gan_generator_loss(logits: jax.Array, generated: jax.Array, target: jax.Array,
                            alpha: float = 1000.0, reduction: str = "mean",
                            alpha_pixel_span: float = 1.0) -> jax.Array:
  """Pose-conditioned video GAN, generator (paper eq.):

      L_G = sum_{i=M/2+1}^{M} l(D(G(I, S_T)), 1) + alpha * || G(I, S_T) - V_i ||_1

  Only the generated (second) half of `logits` is used. generated, target: the M/2 generated
  videos and their real counterparts, pixels in [-1, 1]. With reduction='mean' (default, the
  code) both the BCE and the L1 are means (L1 over every voxel); 'sum' sums both. alpha weighs
  the L1 of pixels spanning `alpha_pixel_span`: the code's alpha = 1000 is set on pixels / 255
  (span 1), so the [-1, 1] pixels' L1 is scaled by alpha_pixel_span / 2 (pass 2 for an alpha
  meant on [-1, 1] itself).
  """
  half = _half(logits)
  adversarial = _reduce(jax.nn.softplus(-logits[half:]), reduction)
  l1 = _reduce(jnp.abs(generated - target), reduction) * (alpha_pixel_span / 2.0)
  return adversarial + alpha * l1


def _half(logits: jax.Array) -> int:
  if logits.ndim != 1 or logits.shape[0] % 2:
    raise ValueError(f"logits must be (M,) with M even (real half + generated half), got "
                     f"{logits.shape}")
  return logits.shape[0] // 2


# ----- Everybody Dance Now (pix2pixHD-based) -----

def gan_loss(logits: jax.Array, target_is_real: bool, kind: str = "bce") -> jax.Array:
  """One GAN term on (patch) logits, averaged over every element:

      'bce'   (the EDN paper's log terms):  real: -log D = softplus(-l);  fake: -log(1 - D) = softplus(l)
      'lsgan' (pix2pixHD/EDN code, D = l):  real: (l - 1)^2;              fake: l^2
  """
  logits = logits.astype(jnp.float32)
  if kind == "bce":
    return jnp.mean(jax.nn.softplus(-logits if target_is_real else logits))
  if kind == "lsgan":
    return jnp.mean(jnp.square(logits - (1.0 if target_is_real else 0.0)))
  raise ValueError(f"gan_loss kind must be 'bce' or 'lsgan', got {kind!r}")


def multiscale_gan_loss(outputs, target_is_real: bool, kind: str = "bce") -> jax.Array:
  """Sum over the discriminator scales k of gan_loss(D_k's patch logits) (pix2pixHD): `outputs`
  is the MultiscaleDiscriminator's list (per scale) of feature lists, the logits last."""
  return sum(gan_loss(features[-1], target_is_real, kind) for features in outputs)


def smoothing_discriminator_loss(real_outputs, fake_outputs, kind: str = "bce") -> jax.Array:
  """D's side of the temporal smoothing loss (EDN eq. 1), summed over the scales k:

      L_smooth(G, D_k) = E[log D_k(x_t, x_t+1, y_t, y_t+1)]
                         + E[log(1 - D_k(x_t, x_t+1, G(x_t), G(x_t+1)))]

  D maximises it: the loss here is -L_smooth = BCE(real, 1) + BCE(fake, 0) (or the LSGAN
  pair). pix2pixHD's code halves this sum; the factor only rescales D's gradients.
  """
  return (multiscale_gan_loss(real_outputs, True, kind)
          + multiscale_gan_loss(fake_outputs, False, kind))


def feature_matching_loss(real_outputs, fake_outputs) -> jax.Array:
  """L_FM (pix2pixHD eq. 4 with its code's weights):

      L_FM = sum_k sum_{i=1}^{L} (1 / num_D) * (4 / L) * mean | D_k^(i)(real) - D_k^(i)(fake) |

  over the L = n_layers + 1 intermediate feature maps of each scale k (not the logits); the
  real features are constants (no gradient into D through this term).
  """
  num_d = len(fake_outputs)
  total = 0.0
  for real, fake in zip(real_outputs, fake_outputs):
    layers = len(fake) - 1
    for r, f in zip(real[:-1], fake[:-1]):
      diff = f.astype(jnp.float32) - jax.lax.stop_gradient(r.astype(jnp.float32))
      total = total + (1.0 / num_d) * (4.0 / layers) * jnp.mean(jnp.abs(diff))
  return total


VGG_LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


def perceptual_loss(features_generated, features_target,
                    weights=VGG_LAYER_WEIGHTS) -> jax.Array:
  """L_P (pix2pixHD's VGGLoss, EDN): sum_i w_i * mean | VGG_i(G(x)) - VGG_i(y) | over
  relu1_1 ... relu5_1 with w = 1/32, 1/16, 1/8, 1/4, 1; the target's features are constants."""
  if len(features_generated) != len(weights):
    raise ValueError(f"{len(features_generated)} feature maps for {len(weights)} weights")
  return sum(w * jnp.mean(jnp.abs(g.astype(jnp.float32)
                                  - jax.lax.stop_gradient(t.astype(jnp.float32))))
             for w, g, t in zip(weights, features_generated, features_target))


def classification_cross_entropy(logits, labels):
  """VGAN's action recognition (main_ucf.lua, Torch's CrossEntropyCriterion):
  L = (1/B) Σ_i [−log softmax(logits_i)[y_i]] = (1/B) Σ_i [logsumexp(logits_i) − logits_i[y_i]]."""
  logits = jnp.asarray(logits, jnp.float32)
  picked = jnp.take_along_axis(logits, jnp.asarray(labels)[:, None], axis=-1)[:, 0]
  return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - picked)
