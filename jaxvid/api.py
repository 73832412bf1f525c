"""From a training workdir to results in Python: `jaxvid.load(workdir)`.

  model = jaxvid.load("runs/vgan")          # the newest checkpoint (or step=N)
  videos = model.generate(16)               # (16, T, H, W, 3) uint8
  future = model.predict(frames)            # conditional VGAN: (N, H, W, 3) uint8 -> videos

Every kind of model loads into a `TrainedModel` (config, trainer, state, step); VGAN's adds
`generate` and `predict`. The CLIs (jaxvid.generate, ...) are thin wrappers over these.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxvid import checkpoint as ckpt_lib
from jaxvid import visualize
from jaxvid.errors import UserError


@dataclasses.dataclass
class TrainedModel:
  config: Any
  trainer: Any
  state: Any
  step: int
  workdir: str


@dataclasses.dataclass
class VGANModel(TrainedModel):
  """A trained VGAN (unconditional, or conditional on a first frame)."""

  @property
  def conditional(self) -> bool:
    return bool(self.config.vgan.conditional)

  @functools.cached_property
  def _jitted_sample(self):  # one compiled function per model, not one per call
    return jax.jit(self.trainer.sample, static_argnums=2)

  def _sample(self, inputs, running_stats: bool) -> dict:
    return self._jitted_sample(self.state, inputs, running_stats)

  def generate(self, n: int, key=None, batch_size: int = 0, running_stats: bool = False,
               outputs: bool = False):
    """n videos from z ~ N(0, I): (n, T, H, W, 3) uint8, or with `outputs` the dict of
    streams ('video', 'foreground', 'background', 'mask') in [-1, 1]. Batches of `batch_size`
    (default: the training sample batch); with batch statistics (the default, as in training)
    the last batch is filled with extra samples so it has the same size."""
    if self.conditional:
      raise UserError("this VGAN is conditional: use predict(frames) (generate --image)")
    if n < 1:
      raise UserError(f"the number of videos must be >= 1, got {n}")
    key = jax.random.key(0) if key is None else key
    size = batch_size or int(self.config.train.num_samples)
    parts = []
    for i in range(0, n, size):
      z = jax.random.normal(jax.random.fold_in(key, i), (size, self.config.vgan.z_dim))
      out = self._sample(z, running_stats)
      parts.append({k: np.asarray(v)[:min(size, n - i)] for k, v in out.items()})
    result = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return result if outputs else visualize.to_uint8(result["video"])

  def predict(self, frames, running_stats: bool = False, outputs: bool = False):
    """The future of each first frame: (N, H, W, 3) uint8 (or [-1, 1] float) at the model's
    size -> (N, T, H, W, 3) uint8 (or the streams with `outputs`)."""
    if not self.conditional:
      raise UserError("this VGAN is unconditional: use generate(n)")
    frames = np.asarray(frames)
    d = self.config.data
    if frames.ndim != 4 or frames.shape[1:] != (d.height, d.width, 3):
      raise UserError(f"frames must be (N, {d.height}, {d.width}, 3), got {frames.shape}")
    if frames.dtype == np.uint8:
      frames = frames.astype(np.float32) / 127.5 - 1.0
    out = {k: np.asarray(v) for k, v in self._sample(jnp.asarray(frames, jnp.float32),
                                                      running_stats).items()}
    return out if outputs else visualize.to_uint8(out["video"])


KINDS = {"vgan": VGANModel}


def load(workdir: str, step: int | None = None, expected: str | None = None) -> TrainedModel:
  """The trained model in `workdir` (its newest checkpoint, or `step`); with `expected`, a
  workdir of another kind of model is an error before any checkpoint is read."""
  from jaxvid.trainers import get_trainer
  config = ckpt_lib.load_config(workdir)
  if expected is not None and config.get("model") != expected:
    raise UserError(f"{workdir} holds a {config.get('model')!r} model; expected {expected!r}")
  trainer = get_trainer(config)
  step, state = ckpt_lib.load_latest(trainer, workdir, step=step)
  cls = KINDS.get(config.model, TrainedModel)
  return cls(config=config, trainer=trainer, state=state, step=int(step), workdir=workdir)
