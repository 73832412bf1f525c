"""A trained model as an object: config, trainer, state and step, with the input checks every
kind shares and `videos_for`, the one way a model makes videos for given real clips.

`jaxvid.load(workdir)` (jaxvid/api.py) builds these; every command and evaluator goes through
them instead of restoring checkpoints itself.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxvid.errors import UserError
from jaxvid.pixels import to_unit_range


def check_shape(array: np.ndarray, what: str, shape: tuple, meaning: str = "") -> None:
  """One-line error unless `array` has `shape` (None: any size on that axis)."""
  if array.ndim != len(shape) or any(s is not None and f != s
                                     for f, s in zip(array.shape, shape)):
    want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
    raise UserError(f"{what} must be {want}{meaning}, got {array.shape}")


def frames_in_unit_range(frames, what: str, shape: tuple) -> jax.Array:
  """uint8 (0..255) or float ([-1, 1]) frames of `shape` (None: any size) -> float32 [-1, 1]."""
  frames = np.asarray(frames)
  check_shape(frames, what, shape)
  if frames.dtype == np.uint8:
    return jnp.asarray(to_unit_range(frames))
  if not np.isfinite(frames).all() or np.abs(frames).max(initial=0) > 1.0 + 1e-6:
    raise UserError(f"{what}: float frames must be finite and in [-1, 1] (or pass uint8)")
  return jnp.asarray(frames, jnp.float32)


def checked_poses(poses, what: str, shape: tuple) -> jax.Array:
  """Keypoints (x, y in pixels, confidence) of `shape`, finite -> float32."""
  poses = np.asarray(poses, np.float32)
  check_shape(poses, what, shape, " (x, y in pixels, confidence)")
  if not np.isfinite(poses).all():
    raise UserError(f"{what} hold NaN or inf: a missing joint is confidence 0, not NaN")
  return jnp.asarray(poses)


def batches(n: int, size: int):
  """Slices of at most `size` covering range(n)."""
  for i in range(0, n, size):
    yield slice(i, min(i + size, n))


@dataclasses.dataclass
class TrainedModel:
  """config (the run's resolved ConfigDict), trainer (jaxvid.trainers), state (the train state;
  an export holds only what sampling needs), step, workdir (or export directory)."""
  config: Any
  trainer: Any
  state: Any
  step: int
  workdir: str

  @property
  def kind(self) -> str:
    return str(self.config.model)

  @property
  def paired(self) -> bool:
    """Whether `videos_for` makes each video for its clip (conditional models)."""
    return bool(self.trainer.paired)

  def with_state(self, state, step: int = 0) -> "TrainedModel":
    """The same model with another state (an untrained one, say)."""
    return dataclasses.replace(self, state=state, step=step)

  @functools.cached_property
  def jitted_trainer_sample(self):
    """jax.jit(trainer.sample), compiled once per model."""
    return jax.jit(self.trainer.sample)

  def videos_for(self, batch: dict, key, progress=None) -> np.ndarray:
    """Videos in [-1, 1] (N, T, H, W, 3) made for the N clips of `batch` (held-out clips as
    the data pipeline gives them: 'video' in [-1, 1], and what else the model reads: poses,
    face boxes): the conditional models' output for each clip, an unconditional model's N
    samples. In batches of the training sample batch (the last one padded: one compiled
    shape); `progress(n)` is called with each batch's clip count."""
    if not self.trainer.evaluates_videos:
      raise UserError(f"a {self.kind} model makes poses, not videos: its suite is "
                      f"pose_forecast (python -m jaxvid.evaluate --suite=pose_forecast)")
    n = len(batch["video"])
    size = int(self.config.train.num_samples)
    out = []
    for i, part in enumerate(batches(n, size)):
      chunk = {k: v[part] for k, v in batch.items()}
      if len(chunk["video"]) < size:
        chunk = {k: np.concatenate([v, np.repeat(v[-1:], size - len(v), 0)])
                 for k, v in chunk.items()}
      inputs = self.trainer.sample_inputs(jax.random.fold_in(key, i), chunk)
      result = self.jitted_trainer_sample(self.state, inputs)
      out.append(np.asarray(result["video"], np.float32)[:part.stop - part.start])
      if progress is not None:
        progress(part.stop - part.start)
    return np.concatenate(out)
