"""What the GAN trainers share: the GAN iteration (`train_g_d`), Adam, and the D update.

Every GAN here (VGAN, the pose GAN, EDN's two stages) follows VGAN's `main.lua` order: G runs
once; D is updated on the real batch and the (stopped-gradient) fake batch; then G is updated
through the *updated* D. `train_g_d` is that iteration, once (MAGVIT's `train_g_d`); each
trainer supplies its generator call, its D step(s) and G's loss, and keeps its own metrics.
For the BatchNorm GANs the D step passes real and fake through D separately, so each gets its
own statistics, and G's pass through the updated D does not keep the statistics it computes.
"""
from __future__ import annotations

from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax

from jaxvid import losses
from jaxvid.errors import UserError

PyTree = Any


@flax.struct.dataclass
class GANState:
  """G and D with BatchNorm statistics and their Adam states (VGAN, pose GAN)."""
  step: jax.Array  # int32 scalar: number of completed iterations
  key: jax.Array  # uint32 key data (jax.random.key_data) of the training key
  g_params: PyTree
  g_batch_stats: PyTree
  d_params: PyTree
  d_batch_stats: PyTree
  g_opt_state: PyTree
  d_opt_state: PyTree
  # An exponential moving average of g_params that sampling uses (VGAN's `ema_decay` > 0);
  # None when off (the papers' setting), which adds nothing to the state or its checkpoints.
  g_ema_params: PyTree = None


def ema_update(ema: PyTree, params: PyTree, step: jax.Array, decay: float) -> PyTree:
  """ema <- d ema + (1 - d) params with d = min(decay, (1 + step) / (10 + step)): the early
  average follows the parameters closely instead of staying near their initialisation."""
  d = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
  return jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, ema, params)


def train_g_d(generate: Callable, g_params: PyTree, g_tx: optax.GradientTransformation,
              g_opt_state: PyTree, update_d: Callable, g_loss: Callable, *,
              has_aux: bool = False) -> dict:
  """One GAN iteration: G forward once, the D step(s) on its outputs, G's step through them.

  generate(g_params) -> outputs (a pytree), or (outputs, aux) with `has_aux` (G's new BatchNorm
    statistics). G's forward pass is shared by both steps through `jax.vjp`, as Torch reuses
    `net.output`.
  update_d(outputs) -> d: whatever the trainer's D step(s) return (new parameters and optimizer
    state, logits, loss, gradients); the D step stops the gradient into `outputs` itself.
  g_loss(outputs, d) -> (total, terms): G's loss through the updated D(s), on the outputs cast
    to float32 (the gradient goes back to G in the outputs' own dtype).

  Returns {"g_params", "g_opt_state": after Adam; "g_aux": aux or None; "g_loss", "terms",
  "g_grads"; "d": update_d's result; "outputs": G's outputs}.
  """
  if has_aux:
    outputs, g_vjp, aux = jax.vjp(generate, g_params, has_aux=True)
  else:
    (outputs, g_vjp), aux = jax.vjp(generate, g_params), None
  d = update_d(outputs)
  as_float32 = jax.tree.map(lambda x: x.astype(jnp.float32), outputs)
  (total, terms), output_grads = jax.value_and_grad(lambda o: g_loss(o, d), has_aux=True)(
      as_float32)
  (g_grads,) = g_vjp(jax.tree.map(lambda g, o: g.astype(o.dtype), output_grads, outputs))
  updates, g_opt_state = g_tx.update(g_grads, g_opt_state, g_params)
  return {"g_params": optax.apply_updates(g_params, updates), "g_opt_state": g_opt_state,
          "g_aux": aux, "g_loss": total, "terms": terms, "g_grads": g_grads, "d": d,
          "outputs": outputs}


def linear_decay(rate: float, num_steps: int, decay_steps: int) -> Callable:
  """pix2pixHD's schedule: `rate` for the first num_steps - decay_steps updates (its niter
  epochs), then linearly to 0 over the last decay_steps (niter_decay): update k (counted from
  0) uses rate * min(1, (num_steps - k) / decay_steps)."""
  return lambda count: rate * jnp.clip((num_steps - count) / decay_steps, 0.0, 1.0)


def adam(optim_config, learning_rate: float = 0.0, num_steps: int = 0
         ) -> optax.GradientTransformation:
  """Adam of config.optim (`learning_rate` > 0 replaces its rate, e.g. a D of its own), its
  rate decayed linearly to 0 over the last `optim.decay_steps` of `num_steps` when > 0."""
  rate = learning_rate or optim_config.learning_rate
  decay = int(optim_config.get("decay_steps", 0))
  if decay:
    if not 0 < decay <= num_steps:
      raise UserError(f"config.optim.decay_steps={decay} must be in [0, train.num_steps="
                      f"{num_steps}] (0: a constant learning rate)")
    rate = linear_decay(rate, num_steps, decay)
  return optax.adam(rate, b1=optim_config.b1, b2=optim_config.b2)


def discriminator_update(discriminator, tx, params, batch_stats, opt_state, real, fake,
                         loss_fn: Callable[[jax.Array, jax.Array], jax.Array],
                         r1_gamma: float = 0.0) -> dict:
  """One D step on real and fake (each through D on its own); loss_fn(real_logits, fake_logits).
  `real` and `fake` are what D sees (already augmented, where a stabiliser augments them).
  r1_gamma > 0 adds the R1 penalty on the real inputs (losses.r1_penalty; a CPU-demo
  stabiliser, off in the papers' configs).

  Returns the new params / batch_stats / opt_state, the loss (with the penalty), both logits,
  the gradients and the penalty (0 when off).
  """
  def d_loss_fn(d_params):
    def real_pass(x):
      logits, upd = discriminator.apply({"params": d_params, "batch_stats": batch_stats}, x,
                                        train=True, mutable=["batch_stats"])
      return jnp.sum(logits), (logits, upd)

    if r1_gamma:
      (_, (real_logits, upd)), real_grads = jax.value_and_grad(real_pass, has_aux=True)(real)
      penalty = losses.r1_penalty(real_grads, r1_gamma)
    else:
      _, (real_logits, upd) = real_pass(real)
      penalty = jnp.zeros((), jnp.float32)
    fake_logits, upd = discriminator.apply(
        {"params": d_params, "batch_stats": upd["batch_stats"]}, jax.lax.stop_gradient(fake),
        train=True, mutable=["batch_stats"])
    loss = loss_fn(real_logits, fake_logits) + penalty
    return loss, (upd["batch_stats"], real_logits, fake_logits, penalty)

  (loss, (new_stats, real_logits, fake_logits, penalty)), grads = jax.value_and_grad(
      d_loss_fn, has_aux=True)(params)
  updates, new_opt_state = tx.update(grads, opt_state, params)
  return {"params": optax.apply_updates(params, updates), "batch_stats": new_stats,
          "opt_state": new_opt_state, "loss": loss, "real_logits": real_logits,
          "fake_logits": fake_logits, "grads": grads, "r1": penalty}


def discriminate(discriminator, params, batch_stats, video) -> jax.Array:
  """D's logits in training mode for G's step; the BatchNorm statistics it computes are dropped."""
  logits, _ = discriminator.apply({"params": params, "batch_stats": batch_stats}, video,
                                  train=True, mutable=["batch_stats"])
  return logits
