"""Host-local, checkpointable batch iterators.

An iterator yields dicts of host-local numpy arrays and exposes `get_state()` /
`set_state(state)` (JSON-serialisable) so the training checkpoint can restore it and a resumed
run sees exactly the batches an uninterrupted run would have seen.

Sample order: the dataset of `num_clips` clips is reshuffled every epoch with a permutation
drawn from (seed, epoch). Global sample position g = step * global_batch + i maps to clip
perm_{g // N}[g % N]; host p of P takes positions [p * B/P, (p + 1) * B/P) of every global
batch, so the union over hosts is the same global batch whatever the host count.
"""
from __future__ import annotations

import concurrent.futures
from typing import Any, Callable

import numpy as np

from jaxvid.data import synthetic_scenes


class ClipIterator:
  """Deterministic iterator over clips made by `render(index) -> uint8 (T, H, W, C)`."""

  def __init__(self, render: Callable[[int], np.ndarray], num_clips: int, global_batch: int,
               seed: int, process_index: int = 0, process_count: int = 1, prefetch: int = 2):
    if global_batch % process_count:
      raise ValueError(f"batch size {global_batch} is not divisible by the {process_count} hosts")
    if num_clips < 1:
      raise ValueError(f"the dataset needs at least one clip, got num_clips={num_clips}")
    self._render = render
    self._num_clips = num_clips
    self._global_batch = global_batch
    self._local_batch = global_batch // process_count
    self._offset = process_index * self._local_batch
    self._seed = seed
    self._step = 0
    self._perm_cache: dict[int, np.ndarray] = {}
    self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    self._prefetch = max(prefetch, 0)
    self._pending: dict[int, concurrent.futures.Future] = {}

  def _clip_indices(self, step: int) -> np.ndarray:
    positions = step * self._global_batch + self._offset + np.arange(self._local_batch)
    out = np.empty_like(positions)
    for j, g in enumerate(positions):
      epoch = int(g // self._num_clips)
      if epoch not in self._perm_cache:
        self._perm_cache = {epoch: np.random.default_rng([self._seed, 7919, epoch]).permutation(
            self._num_clips)}
      out[j] = self._perm_cache[epoch][g % self._num_clips]
    return out

  def _make_batch(self, step: int) -> dict[str, np.ndarray]:
    clips = np.stack([self._render(int(i)) for i in self._clip_indices(step)])
    return {"video": synthetic_scenes.to_model_range(clips)}

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    step = self._step
    future = self._pending.pop(step, None)
    batch = future.result() if future is not None else self._make_batch(step)
    self._step += 1
    for ahead in range(self._step, self._step + self._prefetch):
      if ahead not in self._pending:
        self._pending[ahead] = self._pool.submit(self._make_batch, ahead)
    return batch

  def get_state(self) -> dict[str, Any]:
    return {"step": self._step}

  def set_state(self, state: dict[str, Any]) -> None:
    self._pending.clear()
    self._step = int(state["step"])

  def close(self) -> None:
    self._pool.shutdown(wait=False, cancel_futures=True)


def make_train_iterator(config, process_index: int = 0, process_count: int = 1) -> ClipIterator:
  """The training iterator named by `config.data` (dataset 'synthetic_scenes' for now)."""
  data = config.data
  if data.name != "synthetic_scenes":
    raise ValueError(f"unknown dataset {data.name!r}; available: 'synthetic_scenes'")

  def render(index: int) -> np.ndarray:
    return synthetic_scenes.render_clip(data.seed, index, data.frames, data.height, data.width,
                                        data.max_sprites)

  return ClipIterator(render, data.num_clips, config.train.batch_size, data.seed,
                      process_index, process_count, prefetch=data.prefetch)


def make_sample_batch(config, num: int) -> np.ndarray:
  """A fixed batch of held-out clips (indices past the training set), float32 in [-1, 1].

  Conditional models take their input frames from it; figures show it as the real clips.
  """
  data = config.data
  clips = [synthetic_scenes.render_clip(data.seed, data.num_clips + i, data.frames, data.height,
                                        data.width, data.max_sprites) for i in range(num)]
  return synthetic_scenes.to_model_range(np.stack(clips))
