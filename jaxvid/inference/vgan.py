"""A trained VGAN: unconditional samples, or futures of given first frames."""
from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np

from jaxvid.errors import UserError
from jaxvid.inference.base import TrainedModel, frames_in_unit_range
from jaxvid.pixels import to_uint8


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

  def check_generate(self, n: int) -> None:
    """The one-line errors of generate(n), before any work."""
    if self.conditional:
      raise UserError("this VGAN is conditional: use predict(frames) (generate --image)")
    if n < 1:
      raise UserError(f"the number of videos must be >= 1, got {n}")

  def generate_batches(self, n: int, key=None, batch_size: int = 0,
                       running_stats: bool = False):
    """generate(n, outputs=True) one batch at a time: yields dicts of streams in [-1, 1]
    ('video', 'foreground', 'background', 'mask'), n videos in all (for long requests:
    nothing is held in memory)."""
    self.check_generate(n)
    key = jax.random.key(0) if key is None else key
    size = batch_size or int(self.config.train.num_samples)
    for i in range(0, n, size):
      z = jax.random.normal(jax.random.fold_in(key, i), (size, self.config.vgan.z_dim))
      out = self._sample(z, running_stats)
      yield {k: np.asarray(v)[:min(size, n - i)] for k, v in out.items()}

  def generate(self, n: int, key=None, batch_size: int = 0, running_stats: bool = False,
               outputs: bool = False):
    """n videos from z ~ N(0, I): (n, T, H, W, 3) uint8, or with `outputs` the dict of
    streams ('video', 'foreground', 'background', 'mask') in [-1, 1]. Batches of `batch_size`
    (default: the training sample batch); with batch statistics (the default, as in training)
    the last batch is filled with extra samples so it has the same size."""
    parts = list(self.generate_batches(n, key, batch_size, running_stats))
    result = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return result if outputs else to_uint8(result["video"])

  def predict(self, frames, running_stats: bool = False, outputs: bool = False):
    """The future of each first frame: (N, H, W, 3) uint8 (or [-1, 1] float) at the model's
    size -> (N, T, H, W, 3) uint8 (or the streams with `outputs`)."""
    if not self.conditional:
      raise UserError("this VGAN is unconditional: use generate(n)")
    d = self.config.data
    frames = frames_in_unit_range(frames, "frames", (None, d.height, d.width, 3))
    out = {k: np.asarray(v) for k, v in self._sample(frames, running_stats).items()}
    return out if outputs else to_uint8(out["video"])
