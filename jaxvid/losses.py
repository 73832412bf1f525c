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
