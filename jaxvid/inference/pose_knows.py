"""The Pose Knows as trained models: the pose-VAE's futures, the pose GAN's videos, and the
pipeline from past frames to video futures (past -> pose futures -> G(X_t, S_T))."""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxvid.errors import UserError
from jaxvid.inference.base import TrainedModel, checked_poses, frames_in_unit_range
from jaxvid.pixels import to_uint8
from jaxvid.poses import futures


@dataclasses.dataclass
class PoseVAEModel(TrainedModel):
  """The Pose Knows' pose VAE: futures of a pose sequence from one frame and its past poses."""

  def forecast(self, frame, past_poses, n: int = 1, key=None, steps: int | None = None,
               every_frame: bool = False):
    """n sampled futures: frame (B, H, W, 3) (uint8, or [-1, 1]) and its past poses
    (B, past_steps + 1, 18, 3) in pixels, one per step (frames_per_step video frames apart), the
    last one the frame's -> poses (n, B, steps + 1, 18, 3) in pixels, the first the frame's
    (steps: default future_steps); every_frame: interpolated to every video frame, (n, B,
    steps * frames_per_step + 1, 18, 3)."""
    t, d, p = self.trainer, self.config.data, self.config.pose_vae
    frame = frames_in_unit_range(frame, "frame", (None, d.height, d.width, 3))
    past = checked_poses(past_poses, "past_poses", (frame.shape[0], p.past_steps + 1, 18, 3))
    if n < 1:
      raise UserError(f"the number of futures must be >= 1, got {n}")
    steps = p.future_steps if steps is None else steps
    window = t.split_window(_window_from_steps(t, frame, past), 0)
    key = jax.random.key(0) if key is None else key
    run = jax.jit(lambda k: t.forecast(self.state, window, steps, k))
    poses = np.asarray(jnp.stack([run(k) for k in jax.random.split(key, n)]) / t.scale)
    return futures.interpolate_steps(poses, t.frames_per_step) if every_frame else poses


def _window_from_steps(trainer, frame, past):
  """A clip of trainer.window frames whose step frames hold the past poses (each repeated over
  its step), the last one and `frame` at the present: what split_window reads the past from."""
  k = trainer.frames_per_step
  keypoints = jnp.repeat(past, k, axis=1)[:, :(past.shape[1] - 1) * k + 1]
  fill = jnp.repeat(keypoints[:, -1:], trainer.window - keypoints.shape[1], axis=1)
  return {"keypoints": jnp.concatenate([keypoints, fill], 1),
          "video": jnp.repeat(frame[:, None], trainer.window, axis=1)}


@dataclasses.dataclass
class PoseGANModel(TrainedModel):
  """The Pose Knows' pose-conditioned video GAN: a video of one frame's scene following poses."""

  @functools.cached_property
  def _jitted_generate(self):
    return jax.jit(self.trainer.generate)

  def render(self, frame, poses, key=None):
    """frame (B, H, W, 3) (uint8, or [-1, 1]) and poses (B, T, 18, 3) in pixels of the
    model's frame, T = config.data.frames -> videos (B, T, H, W, 3) uint8."""
    d = self.config.data
    frame = frames_in_unit_range(frame, "frame", (None, d.height, d.width, 3))
    poses = checked_poses(poses, "poses", (frame.shape[0], d.frames, 18, 3))
    key = jax.random.key(0) if key is None else key
    variables = self.trainer.sampling_variables(self.state)  # the EMA of G when trained with one
    video, _ = self._jitted_generate(variables, frame, self.trainer.skeletons(poses), key)
    return to_uint8(np.asarray(video))


SELECTIONS = ("kmeans", "random")


@dataclasses.dataclass(frozen=True)
class Selection:
  """Which sampled futures are shown: 'kmeans' (the code's evaltest.lua: `num_samples` prior
  futures, the `top_fraction` that move most by `score`, their k-means centres, the biggest
  cluster first) or 'random' (the first futures drawn)."""
  method: str = "kmeans"
  num_samples: int = 800
  top_fraction: float = 0.1
  score: str = "motion"

  def check(self, num_futures: int):
    if self.method not in SELECTIONS:
      raise UserError(f"the selection must be one of {SELECTIONS}, got {self.method!r}")
    if self.score not in futures.SCORES:
      raise UserError(f"the motion score must be one of {futures.SCORES}, got {self.score!r}")
    if self.method == "kmeans":
      if self.num_samples < 1:
        raise UserError(f"--num_samples must be >= 1, got {self.num_samples}")
      if not 0 < self.top_fraction <= 1:
        raise UserError(f"the kept fraction must be in (0, 1], got {self.top_fraction}")
      if round(self.num_samples * self.top_fraction) < num_futures:
        raise UserError(f"k-means of {num_futures} futures needs at least {num_futures} kept "
                        f"samples; {self.num_samples} samples x {self.top_fraction} keeps "
                        f"{round(self.num_samples * self.top_fraction)}")


def rollout_steps(vae: PoseVAEModel, frames: int, extend: bool = False) -> int:
  """Pose steps that cover `frames` video frames after X_t; an error past the horizon the
  VAE was trained on unless `extend` (roll the LSTM further than it learnt). Less than one
  step short, the last pose is held instead (the code's 5 x 6 = 30 forecast frames are two
  short of its GAN's 32-frame clip)."""
  p, k = vae.config.pose_vae, vae.trainer.frames_per_step
  steps = -(-frames // k)
  if steps <= p.future_steps or extend:
    return steps
  if frames - p.future_steps * k < k:  # less than one step short: hold the last pose
    return p.future_steps
  raise UserError(f"the pose GAN's clip needs {frames} frames after the present; the pose-VAE "
                  f"was trained to forecast {p.future_steps} steps x {k} frames = "
                  f"{p.future_steps * k} frames (config.pose_vae.future_steps, frames_per_step). "
                  f"Train it for that horizon, or --extend to roll it out {steps} steps")


def forecast_videos(vae: PoseVAEModel, gan: PoseGANModel, video, keypoints, key,
                    num_futures: int, selection: Selection = Selection(method="random"),
                    extend: bool = False) -> dict:
  """One call from past frames to video futures.

  video (B, T0, H, W, 3) in [-1, 1] and keypoints (B, T0, 18, 3) in pixels, at the VAE's frame
  size, T0 >= past_steps x frames_per_step + 1 (the present X_t is that frame). The VAE's step
  futures are interpolated to every frame of the GAN's clip (the code's getIntermediates) and
  chosen by `selection`. Returns poses (N, B, T, 18, 3) in the GAN's pixels, skeletons and
  videos (N, B, T, H', W', 3) in [-1, 1], T, H', W' the GAN's clip, and `shares` (N, B): each
  future's share of the kept samples (k-means) or 1/N.
  """
  if num_futures < 1:
    raise UserError(f"the number of futures must be >= 1, got {num_futures}")
  selection.check(num_futures)
  t, gd = vae.trainer, gan.config.data
  steps = rollout_steps(vae, gd.frames - 1, extend)
  past_frames = vae.config.pose_vae.past_steps * t.frames_per_step + 1
  video, keypoints = np.asarray(video), np.asarray(keypoints, np.float32)
  if video.shape[1] < past_frames:
    raise UserError(f"the pose-VAE needs {past_frames} frames of past (past_steps x "
                    f"frames_per_step + 1), got {video.shape[1]}")
  pad = max(0, t.window - video.shape[1])  # only the past is read: pad the rest
  video = np.concatenate([video, np.repeat(video[:, -1:], pad, 1)], 1)[:, :t.window]
  keypoints = np.concatenate([keypoints, np.repeat(keypoints[:, -1:], pad, 1)], 1)[:, :t.window]
  draws = selection.num_samples if selection.method == "kmeans" else num_futures
  vae_key, gan_key, select_key = jax.random.split(key, 3)
  step_poses = np.asarray(_rollout(t, vae.state, jnp.asarray(video), jnp.asarray(keypoints),
                                   vae_key, steps, draws))  # normalised, (draws, B, S + 1, ...)
  every_frame = futures.interpolate_steps(step_poses, t.frames_per_step)[:, :, :gd.frames]
  held = gd.frames - every_frame.shape[2]  # < frames_per_step past the horizon: hold the last
  every_frame = np.concatenate([every_frame, np.repeat(every_frame[:, :, -1:], held, 2)], 2)
  if selection.method == "kmeans":
    rng = np.random.default_rng(np.asarray(jax.random.key_data(select_key)).ravel())
    scores = futures.motion_scores(step_poses, selection.score)  # (draws, B)
    chosen = [futures.select_futures(every_frame[:, b], scores[:, b], num_futures, rng,
                                     selection.top_fraction) for b in range(video.shape[0])]
    every_frame = np.stack([c[0] for c in chosen], 1)
    shares = np.stack([c[1] for c in chosen], 1)
  else:
    shares = np.full(every_frame.shape[:2], 1.0 / num_futures)
  poses = every_frame * np.array([gd.width, gd.height, 1.0], np.float32)
  first = video[:, past_frames - 1]
  out = _render(gan.trainer, gan.state, jnp.asarray(first), jnp.asarray(poses), gan_key)
  return {"poses": poses, "shares": shares, **jax.tree.map(np.asarray, out)}


@functools.partial(jax.jit, static_argnums=(0, 5, 6))
def _rollout(vae, vae_state, video, keypoints, key, steps: int, draws: int):
  w = vae.split_window({"video": video, "keypoints": keypoints}, 0)
  return jax.vmap(lambda k: vae.forecast(vae_state, w, steps, k))(jax.random.split(key, draws))


@functools.partial(jax.jit, static_argnums=(0,))
def _render(gan, gan_state, first, poses, key):
  gd = gan.config.data
  if first.shape[1:3] != (gd.height, gd.width):
    first = jax.image.resize(first, first.shape[:1] + (gd.height, gd.width, 3), "bilinear")
  skeletons = gan.skeletons(poses)
  variables = gan.sampling_variables(gan_state)
  generate = lambda s, k: gan.generate(variables, first, s, k)[0]
  keys = jax.random.split(key, poses.shape[0])
  return {"skeletons": skeletons, "videos": jax.vmap(generate)(skeletons, keys)}
