"""Pose-VAE trainer (The Pose Knows): forecast pose futures from a frame and past poses.

A training window of past + future + 1 poses is cut from each clip at a random offset (the same
for the whole batch, drawn from the step key). Keypoints are normalised by the frame size, so
velocities are fractions of the frame. Loss (losses.py): w_rec * (future MSE + reversed-past
MSE) + w_KL * KL(Q || N(0, I)), the code's weights 0.99975 / 0.00025.
"""
from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxvid import losses
from jaxvid.data import pipeline
from jaxvid.errors import UserError
from jaxvid.models.pose_vae import PoseVAE
from jaxvid.poses.render import render_skeleton
from jaxvid.trainers.gan_common import compute_dtype

PyTree = Any


@flax.struct.dataclass
class PoseVAEState:
  step: jax.Array
  key: jax.Array  # uint32 key data
  params: PyTree
  opt_state: PyTree


class PoseVAETrainer:
  name = "pose_vae"

  def __init__(self, config):
    self.config = config
    p, d = config.pose_vae, config.data
    self.window = p.past_steps + p.future_steps + 1
    if d.frames < self.window:
      raise UserError(f"pose_vae needs clips of at least past_steps + future_steps + 1 = "
                      f"{self.window} frames; config.data.frames={d.frames}")
    pipeline.require_keypoints(d, "pose_vae")
    self.model = PoseVAE(hidden=p.hidden, num_layers=p.num_layers, latent=p.latent,
                         embed=p.embed, image_features=p.image_features,
                         future_poses_in_q=p.future_poses_in_q, dtype=compute_dtype(config))
    self.tx = optax.adam(config.optim.learning_rate)
    self.scale = jnp.array([1.0 / d.width, 1.0 / d.height, 1.0], jnp.float32)

  def metadata(self) -> dict:
    p, d = self.config.pose_vae, self.config.data
    return {"model": self.name, "architecture": {
        "hidden": p.hidden, "num_layers": p.num_layers, "latent": p.latent, "embed": p.embed,
        "image_features": p.image_features, "future_poses_in_q": bool(p.future_poses_in_q),
        "steps": [p.past_steps, p.future_steps], "frame": [d.height, d.width]}}

  # ----- data -----
  def split_window(self, batch, offset):
    """Split one window of the clip into the model's inputs (normalised coordinates)."""
    p = self.config.pose_vae
    poses = jax.lax.dynamic_slice_in_dim(batch["keypoints"], offset, self.window, axis=1)
    poses = poses * self.scale
    velocities = poses[:, 1:, :, :2] - poses[:, :-1, :, :2]
    past, future = p.past_steps, p.future_steps
    frame = jax.lax.dynamic_index_in_dim(batch["video"], offset + past, axis=1, keepdims=False)
    return {"frame": frame, "past_poses": poses[:, 1:past + 1],
            "past_velocities": velocities[:, :past],
            "future_poses": poses[:, past:past + future],
            "future_velocities": velocities[:, past:past + future],
            "future_true_poses": poses[:, past:]}

  def _random_offset(self, key):
    return jax.random.randint(key, (), 0, self.config.data.frames - self.window + 1)

  # ----- state -----
  def init_state(self, key) -> PoseVAEState:
    init_key, latent_key, train_key = jax.random.split(key, 3)
    d, p = self.config.data, self.config.pose_vae
    dummy = {"keypoints": jnp.zeros((1, d.frames, 18, 3)),
             "video": jnp.zeros((1, d.frames, d.height, d.width, 3))}
    w = self.split_window(dummy, 0)
    params = self.model.init({"params": init_key, "latent": latent_key}, w["frame"],
                             w["past_poses"], w["past_velocities"], w["future_poses"],
                             w["future_velocities"])["params"]
    return PoseVAEState(step=jnp.zeros((), jnp.int32), key=jax.random.key_data(train_key),
                        params=params, opt_state=self.tx.init(params))

  def train_step(self, state: PoseVAEState, batch: dict):
    p = self.config.pose_vae
    step_key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
    offset_key, latent_key = jax.random.split(step_key)
    w = self.split_window(batch, self._random_offset(offset_key))

    def loss_fn(params):
      out = self.model.apply({"params": params}, w["frame"], w["past_poses"],
                             w["past_velocities"], w["future_poses"], w["future_velocities"],
                             rngs={"latent": latent_key})
      future = losses.pose_vae_reconstruction_loss(out["future_velocities"],
                                                   w["future_velocities"])
      past = losses.pose_vae_reconstruction_loss(out["past_reversed"],
                                                 w["past_velocities"][:, ::-1])
      kl = losses.gaussian_kl_to_standard_normal(out["mean"], out["log_var"])
      total = losses.pose_vae_loss(future + past, kl, p.reconstruction_weight, p.kl_weight)
      return total, {"future_mse": future, "past_mse": past, "kl": kl}

    (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                              opt_state=opt_state)
    return new_state, {"loss": loss, **terms, "grad_norm": optax.tree.norm(grads)}

  # ----- sampling -----
  def sample_inputs(self, key, sample_batch: dict):
    return {"keypoints": jnp.asarray(sample_batch["keypoints"]),
            "video": jnp.asarray(sample_batch["video"]), "key": jax.random.key_data(key)}

  def sample(self, state: PoseVAEState, inputs: dict) -> dict:
    """`num_futures` forecasts per sample from the first window, z from the prior."""
    p = self.config.pose_vae
    w = self.split_window(inputs, 0)
    keys = jax.random.split(jax.random.wrap_key_data(inputs["key"]), p.num_futures)
    forecast = lambda k: self.model.apply(
        {"params": state.params}, w["frame"], w["past_poses"], w["past_velocities"],
        p.future_steps, rngs={"latent": k}, method=PoseVAE.forecast)[1]
    futures = jax.vmap(forecast)(keys)  # (N, B, future + 1, 18, 3)
    return {"forecasts": futures / self.scale, "truth": w["future_true_poses"] / self.scale,
            "frames": jax.lax.dynamic_slice_in_dim(inputs["video"], p.past_steps,
                                                   p.future_steps + 1, axis=1)}

  def figure(self, outputs: dict, sample_batch: dict) -> list[list[np.ndarray]]:
    """Per sample: real frames | true pose future | each sampled future (skeletons)."""
    d = self.config.data
    draw = lambda poses: render_skeleton(poses, d.height, d.width).astype(np.float32) / 127.5 - 1
    rows = []
    for i in range(outputs["truth"].shape[0]):
      row = [outputs["frames"][i], draw(outputs["truth"][i])]
      row += [draw(f[i]) for f in outputs["forecasts"]]
      rows.append(row)
    return rows

  def figure_columns(self) -> list[str]:
    return ["frames", "true poses"] + [f"future {k + 1}"
                                      for k in range(self.config.pose_vae.num_futures)]
