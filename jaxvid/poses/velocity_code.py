"""The Pose Knows authors' velocity encoding: per step a direction (36) and two magnitudes (2).

Their code (`loadLMDB.lua`, doScaling / doScalingInv) does not regress raw velocities. Per step,
the 18 dx and the 18 dy are each treated as one vector:

    direction = 5 * (dx_1..dx_18, dy_1..dy_18) / (|dx|, |dy|)      (36 numbers, +-5 at most)
    magnitude = (exp(|dx|) - 1.1) / 0.1,  (exp(|dy|) - 1.1) / 0.1   (2 numbers)

and the decoders predict the two with their own heads and MSEs. Raw velocities are ~0.01 of the
frame per step, so a regression on them is dominated by noise the latent cannot explain; the
direction makes every step's motion unit-sized, which is what lets the latent pay for itself.

Velocities are in normalised coordinates (fractions of the frame width / height, as the code's
x/240, y/320). The functions are jnp and work on numpy inputs too.
"""
from __future__ import annotations

import jax.numpy as jnp

NUM_JOINTS = 18
DIRECTION_DIM = 2 * NUM_JOINTS
MAGNITUDE_DIM = 2
DIRECTION_SCALE = 5.0
MAGNITUDE_MEAN = 1.1  # the code's opt.diffMean
MAGNITUDE_STD = 0.1  # the code's opt.diffStd
_EPS = 1e-9  # the code's guard on the division by the norm
_OUT_OF_RANGE = 10.0  # the code zeroes encoded values beyond this (glitches in the detections)


def encode(velocities):
  """(..., 18, 2) velocities -> (direction (..., 36) = [dx / |dx|, dy / |dy|] * 5,
  magnitude (..., 2) = (exp(|dx|, |dy|) - 1.1) / 0.1). Non-finite values and values beyond
  +-10 become 0, as in the code."""
  components = jnp.swapaxes(jnp.asarray(velocities, jnp.float32), -1, -2)  # (..., 2, 18)
  norm = jnp.sqrt(jnp.sum(jnp.square(components), axis=-1))  # (..., 2)
  direction = DIRECTION_SCALE * components / (norm[..., None] + _EPS)
  direction = direction.reshape(direction.shape[:-2] + (DIRECTION_DIM,))
  magnitude = (jnp.exp(norm) - MAGNITUDE_MEAN) / MAGNITUDE_STD
  clean = lambda x: jnp.where(jnp.isfinite(x) & (jnp.abs(x) < _OUT_OF_RANGE), x, 0.0)
  return clean(direction), clean(magnitude)


def decode(direction, magnitude):
  """Inverse of `encode`: (..., 36), (..., 2) -> (..., 18, 2) velocities.

  |v| = log(0.1 * magnitude + 1.1). A predicted magnitude below -1 (a negative norm) is clamped
  to -1 (norm 0); the code clamps at -2, which lets a step run backwards along its direction.
  """
  norm = jnp.log(jnp.maximum(magnitude, -1.0) * MAGNITUDE_STD + MAGNITUDE_MEAN)  # (..., 2)
  components = direction.reshape(direction.shape[:-1] + (2, NUM_JOINTS)) / DIRECTION_SCALE
  return jnp.swapaxes(components * norm[..., None], -1, -2)


def encode_flat(velocities):
  """(..., 18, 2) -> (..., 38): the direction and magnitude side by side (the models' input)."""
  direction, magnitude = encode(velocities)
  return jnp.concatenate([direction, magnitude], axis=-1)


def decode_flat(code):
  """Inverse of `encode_flat`: (..., 38) -> (..., 18, 2)."""
  return decode(code[..., :DIRECTION_DIM], code[..., DIRECTION_DIM:])
