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


@dataclasses.dataclass
class PoseVAEModel(TrainedModel):
  """The Pose Knows' pose VAE: futures of a pose sequence from one frame and its past poses."""

  def forecast(self, frame, past_poses, n: int = 1, key=None, steps: int | None = None):
    """n sampled futures: frame (B, H, W, 3) (uint8, or [-1, 1]) and its past poses
    (B, past_steps + 1, 18, 3) in pixels, the last one the frame's -> poses
    (n, B, steps + 1, 18, 3) in pixels, the first the frame's (steps: default future_steps)."""
    t, d, p = self.trainer, self.config.data, self.config.pose_vae
    frame = frames_in_unit_range(frame, "frame", (None, d.height, d.width, 3))
    past = checked_poses(past_poses, "past_poses", (frame.shape[0], p.past_steps + 1, 18, 3))
    if n < 1:
      raise UserError(f"the number of futures must be >= 1, got {n}")
    steps = p.future_steps if steps is None else steps
    # split_window reads one whole window; only the past and the frame at the present are used
    fill = jnp.repeat(past[:, -1:], t.window - past.shape[1], axis=1)
    batch = {"keypoints": jnp.concatenate([past, fill], 1),
             "video": jnp.repeat(frame[:, None], t.window, axis=1)}
    window = t.split_window(batch, 0)
    key = jax.random.key(0) if key is None else key
    run = jax.jit(lambda k: t.forecast(self.state, window, steps, k))
    poses = jnp.stack([run(k) for k in jax.random.split(key, n)])
    return np.asarray(poses / t.scale)


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
    variables = {"params": self.state.g_params, "batch_stats": self.state.g_batch_stats}
    video, _ = self._jitted_generate(variables, frame, self.trainer.skeletons(poses), key)
    return to_uint8(np.asarray(video))


def forecast_videos(vae: PoseVAEModel, gan: PoseGANModel, video, keypoints, key,
                    num_futures: int) -> dict:
  """One call from past frames to video futures.

  video (B, T0, H, W, 3) in [-1, 1] and keypoints (B, T0, 18, 3) in pixels, at the VAE's frame
  size, T0 >= past_steps + 1. Returns poses (N, B, T, 18, 3) in the GAN's pixels, skeletons and
  videos (N, B, T, H', W', 3) in [-1, 1], T, H', W' the GAN's clip.
  """
  if num_futures < 1:
    raise UserError(f"the number of futures must be >= 1, got {num_futures}")
  run = jax.jit(_forecast_videos, static_argnums=(0, 2, 7))
  out = run(vae.trainer, vae.state, gan.trainer, gan.state, jnp.asarray(video),
            jnp.asarray(keypoints), key, num_futures)
  return jax.tree.map(np.asarray, out)


def _forecast_videos(vae, vae_state, gan, gan_state, video, keypoints, key, num_futures: int):
  vd, gd = vae.config.data, gan.config.data
  w = vae.split_window({"video": video, "keypoints": keypoints}, 0)
  run = lambda k: vae.forecast(vae_state, w, gd.frames - 1, k)
  poses = jax.vmap(run)(jax.random.split(key, num_futures))  # normalised, (N, B, T, 18, 3)
  poses = poses * jnp.array([gd.width, gd.height, 1.0], jnp.float32)
  first = w["frame"][..., :3]  # the VAE's input also holds the rendered pose
  if (vd.height, vd.width) != (gd.height, gd.width):
    first = jax.image.resize(first, first.shape[:1] + (gd.height, gd.width, 3), "bilinear")
  skeletons = gan.skeletons(poses)

  def generate(s, k):
    out, _ = gan.generate({"params": gan_state.g_params, "batch_stats": gan_state.g_batch_stats},
                          first, s, k)
    return out

  gan_keys = jax.random.split(jax.random.fold_in(key, 1), num_futures)
  return {"poses": poses, "skeletons": skeletons, "videos": jax.vmap(generate)(skeletons, gan_keys)}
