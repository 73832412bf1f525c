"""Pose-VAE trainer (The Pose Knows): forecast pose futures from a frame and past poses.

A training window of past + future + 1 poses, one every `frames_per_step` video frames (the
code's 5 future steps span 30 frames: 6), is cut from each clip at a random offset (the same
for the whole batch, drawn from the step key); on the branching dancer it starts so that the
current frame X_t is the branch frame. Keypoint confidence is binarised at
`confidence_threshold` (the code's loader: above 0.1 -> 1, else 0). Keypoints are normalised by the frame size and the motion
is the code's direction + magnitude encoding (poses/velocity_code.py). Loss (losses.py): w_rec *
(future direction MSE + future magnitude MSE + the same for the reversed past) + w_KL * KL(Q ||
N(0, I)), the code's weights 0.99975 / 0.00025 switching to 0.9995 / 0.0005 at
`weight_switch_step`, the KL summed over the batch as in the code (`kl_reduction`).
"""
from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxvid import config_defaults, losses
from jaxvid.data import pipeline, synthetic_dancer
from jaxvid.errors import UserError
from jaxvid.models.pose_vae import POSTERIORS, PoseVAE
from jaxvid.poses import velocity_code
from jaxvid.poses.render import render_skeleton, render_skeleton_jax
from jaxvid.trainers.base import Trainer, compute_dtype
from jaxvid.trainers.gan_common import linear_decay

PyTree = Any


@flax.struct.dataclass
class PoseVAEState:
  step: jax.Array
  key: jax.Array  # uint32 key data
  params: PyTree
  batch_stats: PyTree  # the embeddings' BatchNorm statistics
  opt_state: PyTree


# Options added after workdirs were made: a config.json without them reads as it was trained.
_EARLIER = {"frames_per_step": 1, "confidence_threshold": None, "shared_embeddings": True,
            "frame_encoder": "small", "joint_pose_features": 0, "q_tiling": False,
            "past_decoder_input": "zeros"}


def option(pose_vae_config, key: str):
  """config.pose_vae[key], or its value before the key existed (an older workdir's config)."""
  return pose_vae_config.get(key, _EARLIER[key])


class PoseVAETrainer(Trainer):
  name = "pose_vae"
  required_features = ("video", "keypoints")
  evaluates_videos = False  # poses, not videos: benchmarks/pose_forecast.py measures it

  def __init__(self, config):
    self.config = config
    p, d = config.pose_vae, config.data
    self.frames_per_step = k = option(p, "frames_per_step")
    if k < 1:
      raise UserError(f"config.pose_vae.frames_per_step must be >= 1, got {k}")
    self.window = (p.past_steps + p.future_steps) * k + 1  # video frames a window spans
    if d.frames < self.window:
      raise UserError(f"pose_vae needs clips of at least (past_steps + future_steps) x "
                      f"frames_per_step + 1 = {self.window} frames; config.data.frames={d.frames}")
    self.confidence_threshold = option(p, "confidence_threshold")
    pipeline.require_features(d, self.required_features, self.name)
    if p.posterior not in POSTERIORS:
      raise UserError(f"config.pose_vae.posterior must be one of {POSTERIORS}; got "
                      f"{p.posterior!r}")
    if p.kl_reduction not in ("sum", "per_sample"):
      raise UserError(f"config.pose_vae.kl_reduction must be 'sum' (the code) or 'per_sample' "
                      f"(the paper); got {p.kl_reduction!r}")
    self.fixed_offset = None  # a random window per step
    if config_defaults.data_value(d, "branching"):  # X_t must be the branch frame, or there is no branch to learn
      step_frames = config_defaults.data_value(d, "branch_step_frames")
      if step_frames != k:
        raise UserError(f"the branching dancer's steps (config.data.branch_step_frames="
                        f"{step_frames}) must be the pose-VAE's (config.pose_vae.frames_per_step"
                        f"={k})")
      branch = synthetic_dancer.branch_frame(k)
      self.fixed_offset = branch - p.past_steps * k
      if self.fixed_offset < 0 or self.fixed_offset + self.window > d.frames:
        raise UserError(f"the branching dancer branches at frame {branch}: it needs "
                        f"pose_vae.past_steps <= {synthetic_dancer.BRANCH_STEP} and "
                        f"config.data.frames >= {branch + p.future_steps * k + 1}")
    self.model = PoseVAE(hidden=p.hidden, num_layers=p.num_layers, latent=p.latent,
                         embed=p.embed, image_features=p.image_features, posterior=p.posterior,
                         posterior_hidden=p.posterior_hidden, future_steps=p.future_steps,
                         shared_embeddings=option(p, "shared_embeddings"),
                         frame_encoder=option(p, "frame_encoder"),
                         joint_pose_features=int(option(p, "joint_pose_features")),
                         q_tiling=bool(option(p, "q_tiling")),
                         past_decoder_input=option(p, "past_decoder_input"),
                         dtype=compute_dtype(config))
    rate, decay = config.optim.learning_rate, int(config.optim.get("decay_steps", 0))
    if decay:  # the CPU demo's linear decay to 0 (config.optim.decay_steps); the code: constant
      rate = linear_decay(rate, config.train.num_steps, decay)
    self.tx = optax.adam(rate)
    self.scale = jnp.array([1.0 / d.width, 1.0 / d.height, 1.0], jnp.float32)

  def metadata(self) -> dict:
    p, d = self.config.pose_vae, self.config.data
    architecture = {
        "hidden": p.hidden, "num_layers": p.num_layers, "latent": p.latent, "embed": p.embed,
        "image_features": p.image_features, "posterior": p.posterior,
        "posterior_hidden": p.posterior_hidden, "motion": "direction+magnitude",
        "steps": [p.past_steps, p.future_steps], "frame": [d.height, d.width]}
    # Recorded only where they differ from the earlier behaviour, so the checkpoints written
    # before these options existed still match a config that reads as they were trained.
    for key, value in (("shared_embeddings", bool(option(p, "shared_embeddings"))),
                       ("frames_per_step", self.frames_per_step),
                       ("frame_encoder", option(p, "frame_encoder")),
                       ("joint_pose_features", int(option(p, "joint_pose_features"))),
                       ("q_tiling", bool(option(p, "q_tiling"))),
                       ("past_decoder_input", option(p, "past_decoder_input"))):
      if value != _EARLIER[key]:
        architecture[key] = value
    return {"model": self.name, "architecture": architecture}

  def loss_weights(self, step):
    """(w_rec, w_KL) at `step`: the code's 0.99975 / 0.00025, then 0.9995 / 0.0005."""
    p = self.config.pose_vae
    late = step >= p.weight_switch_step
    return (jnp.where(late, p.late_reconstruction_weight, p.reconstruction_weight),
            jnp.where(late, p.late_kl_weight, p.kl_weight))

  # ----- data -----
  def binarised(self, keypoints):
    """Confidence above the threshold -> 1, else 0 (the code's loader); as given if None."""
    if self.confidence_threshold is None:
      return keypoints
    confident = (keypoints[..., 2:] > self.confidence_threshold).astype(keypoints.dtype)
    return jnp.concatenate([keypoints[..., :2], confident], -1)

  def split_window(self, batch, offset):
    """Split one window of the clip (`self.window` frames from `offset`, a pose every
    frames_per_step) into the model's inputs: normalised poses, the code's motion encoding
    (B, T, 38) and X_t beside its rendered pose (B, H, W, 6)."""
    p, d = self.config.pose_vae, self.config.data
    keypoints = jax.lax.dynamic_slice_in_dim(batch["keypoints"], offset, self.window, axis=1)
    keypoints = self.binarised(keypoints[:, ::self.frames_per_step])
    poses = keypoints * self.scale
    velocities = poses[:, 1:, :, :2] - poses[:, :-1, :, :2]
    motion = velocity_code.encode_flat(velocities)
    past, future = p.past_steps, p.future_steps
    frame = jax.lax.dynamic_index_in_dim(batch["video"], offset + past * self.frames_per_step,
                                         axis=1, keepdims=False)
    pose_image = render_skeleton_jax(keypoints[:, past], d.height, d.width) * 2.0 - 1.0
    return {"frame": jnp.concatenate([frame, pose_image.astype(frame.dtype)], -1),
            "past_poses": poses[:, 1:past + 1], "past_motion": motion[:, :past],
            "future_poses": poses[:, past:past + future],
            "future_motion": motion[:, past:past + future],
            "future_true_poses": poses[:, past:]}

  def window_offset(self, key):
    if self.fixed_offset is not None:
      return self.fixed_offset
    return jax.random.randint(key, (), 0, self.config.data.frames - self.window + 1)

  # ----- state -----
  def init_state(self, key) -> PoseVAEState:
    init_key, latent_key, train_key = jax.random.split(key, 3)
    d = self.config.data
    dummy = {"keypoints": jnp.zeros((2, d.frames, 18, 3)),
             "video": jnp.zeros((2, d.frames, d.height, d.width, 3))}
    w = self.split_window(dummy, 0)
    variables = self.model.init({"params": init_key, "latent": latent_key}, w["frame"],
                                w["past_poses"], w["past_motion"], w["future_poses"],
                                w["future_motion"])
    params = variables["params"]
    return PoseVAEState(step=jnp.zeros((), jnp.int32), key=jax.random.key_data(train_key),
                        params=params, batch_stats=variables["batch_stats"],
                        opt_state=self.tx.init(params))

  def train_step(self, state: PoseVAEState, batch: dict):
    p = self.config.pose_vae
    step_key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
    offset_key, latent_key = jax.random.split(step_key)
    w = self.split_window(batch, self.window_offset(offset_key))
    reconstruction_weight, kl_weight = self.loss_weights(state.step)
    d = velocity_code.DIRECTION_DIM

    def mse_pair(predicted, target):  # direction and magnitude heads: one MSE each (the code)
      return (losses.pose_vae_reconstruction_loss(predicted[..., :d], target[..., :d]),
              losses.pose_vae_reconstruction_loss(predicted[..., d:], target[..., d:]))

    def loss_fn(params):
      out, updates = self.model.apply(
          {"params": params, "batch_stats": state.batch_stats}, w["frame"], w["past_poses"],
          w["past_motion"], w["future_poses"], w["future_motion"], rngs={"latent": latent_key},
          mutable=["batch_stats"])
      future_direction, future_magnitude = mse_pair(out["future_motion"], w["future_motion"])
      past_direction, past_magnitude = mse_pair(out["past_reversed"], w["past_motion"][:, ::-1])
      kl = losses.gaussian_kl_to_standard_normal(out["mean"], out["log_var"], p.kl_reduction)
      reconstruction = future_direction + future_magnitude + past_direction + past_magnitude
      total = losses.pose_vae_loss(reconstruction, kl, reconstruction_weight, kl_weight)
      kl_per_sample = kl / out["mean"].shape[0] if p.kl_reduction == "sum" else kl
      return total, (updates["batch_stats"], {
          "future_direction_mse": future_direction, "future_magnitude_mse": future_magnitude,
          "past_direction_mse": past_direction, "past_magnitude_mse": past_magnitude,
          "kl_per_sample": kl_per_sample})

    (loss, (batch_stats, terms)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                              batch_stats=batch_stats, opt_state=opt_state)
    return new_state, {"loss": loss, **terms, "grad_norm": optax.tree.norm(grads)}

  # ----- inference (forecast CLI, benchmarks) -----
  def _variables(self, state):
    return {"params": state.params, "batch_stats": state.batch_stats}

  def forecast(self, state, window: dict, num_steps: int, key, z=None):
    """Poses (B, num_steps + 1, 18, 3), normalised, rolled out from the window's past with z from
    the prior (`key`) or the given z (B, num_steps, latent)."""
    return self.model.apply(self._variables(state), window["frame"], window["past_poses"],
                            window["past_motion"], num_steps, z, rngs={"latent": key},
                            method=PoseVAE.forecast)[1]

  def posterior_z(self, state, window: dict, key):
    """z ~ Q(z | past, the window's true future): (B, future_steps, latent)."""
    return self.model.apply(self._variables(state), window["frame"], window["past_poses"],
                            window["past_motion"], window["future_poses"],
                            window["future_motion"], rngs={"latent": key},
                            method=PoseVAE.posterior_sample)

  def posterior_params(self, state, window: dict):
    """mu, log sigma^2 of Q for the window's true future, each (B, future_steps, latent)."""
    def run(model, frame, past_poses, past_motion, future_poses, future_motion):
      h = model.encode_past(frame, past_poses, past_motion)
      return model.posterior_params(h, future_poses, future_motion)
    return self.model.apply(self._variables(state), window["frame"], window["past_poses"],
                            window["past_motion"], window["future_poses"],
                            window["future_motion"], method=run)

  # ----- sampling -----
  def sample_inputs(self, key, sample_batch: dict):
    inputs = {"keypoints": jnp.asarray(sample_batch["keypoints"]),
              "video": jnp.asarray(sample_batch["video"]), "key": jax.random.key_data(key)}
    if "branch_keypoints" in sample_batch:  # the branching dancer: every true future
      inputs["branch_keypoints"] = jnp.asarray(sample_batch["branch_keypoints"])
    return inputs

  def sample(self, state: PoseVAEState, inputs: dict, num_futures: int | None = None) -> dict:
    """`num_futures` (default config.pose_vae.num_futures) forecasts per sample from the first
    window, z from the prior."""
    p = self.config.pose_vae
    offset = self.fixed_offset or 0
    w = self.split_window(inputs, offset)
    keys = jax.random.split(jax.random.wrap_key_data(inputs["key"]),
                            num_futures or p.num_futures)
    futures = jax.vmap(lambda k: self.forecast(state, w, p.future_steps, k))(keys)
    k = self.frames_per_step
    start, span = offset + p.past_steps * k, p.future_steps * k + 1  # the step frames' span
    outputs = {"forecasts": futures / self.scale, "truth": w["future_true_poses"] / self.scale,
               "frames": jax.lax.dynamic_slice_in_dim(inputs["video"], start, span,
                                                      axis=1)[:, ::k]}
    if "branch_keypoints" in inputs:  # (B, K, future + 1, 18, 3) in pixels
      outputs["branches"] = jax.lax.dynamic_slice_in_dim(inputs["branch_keypoints"], start,
                                                         span, axis=2)[:, :, ::k]
    return outputs

  def figure(self, outputs: dict, sample_batch: dict) -> list[list[np.ndarray]]:
    """Per sample: real frames | the true pose future (on the branching dancer: every move's
    future, K columns) | each sampled future (skeletons)."""
    d = self.config.data
    draw = lambda poses: render_skeleton(poses, d.height, d.width).astype(np.float32) / 127.5 - 1
    rows = []
    for i in range(outputs["truth"].shape[0]):
      truths = outputs["branches"][i] if "branches" in outputs else [outputs["truth"][i]]
      row = [outputs["frames"][i]] + [draw(t) for t in truths]
      row += [draw(f[i]) for f in outputs["forecasts"]]
      rows.append(row)
    return rows

  def figure_columns(self, num_futures: int | None = None) -> list[str]:
    truths = (list(synthetic_dancer.BRANCH_MOVES)
              if config_defaults.data_value(self.config.data, "branching")
              else ["true poses"])
    return ["frames"] + truths + [f"future {k + 1}"
                                  for k in range(num_futures or self.config.pose_vae.num_futures)]
