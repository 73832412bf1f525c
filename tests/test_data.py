"""The embedded synthetic-scenes data and the checkpointable iterator."""
import numpy as np
import pytest

from jaxvid.data import pipeline, synthetic_scenes


def test_clips_are_deterministic_uint8_with_static_background():
  a = synthetic_scenes.render_clip(3, 7, frames=8, height=32, width=24)
  b = synthetic_scenes.render_clip(3, 7, frames=8, height=32, width=24)
  assert a.shape == (8, 32, 24, 3) and a.dtype == np.uint8
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, synthetic_scenes.render_clip(3, 8, 8, 32, 24))
  assert not np.array_equal(a, synthetic_scenes.render_clip(4, 7, 8, 32, 24))
  # sprites move, the background does not: some pixels change over time, most stay fixed
  changed = np.any(a != a[:1], axis=(0, 3))
  assert 0.0 < changed.mean() < 0.9


def test_model_range():
  x = synthetic_scenes.to_model_range(np.array([0, 255], np.uint8))
  np.testing.assert_allclose(x, [-1.0, 1.0])


def _render(i):
  return np.full((2, 4, 4, 3), i, np.uint8)


def test_iterator_state_roundtrip_gives_identical_batches():
  it = pipeline.ClipIterator(_render, num_clips=10, global_batch=4, seed=0)
  batches = [next(it) for _ in range(6)]  # crosses two epoch boundaries
  state_after_3 = None
  it2 = pipeline.ClipIterator(_render, num_clips=10, global_batch=4, seed=0)
  for _ in range(3):
    next(it2)
  state_after_3 = it2.get_state()
  it3 = pipeline.ClipIterator(_render, num_clips=10, global_batch=4, seed=0)
  it3.set_state(state_after_3)
  for expected in batches[3:]:
    np.testing.assert_array_equal(next(it3)["video"], expected["video"])
  for it_ in (it, it2, it3):
    it_.close()


def test_every_clip_once_per_epoch():
  it = pipeline.ClipIterator(_render, num_clips=8, global_batch=4, seed=1, prefetch=0)
  ids = np.concatenate([next(it)["video"][:, 0, 0, 0, 0] for _ in range(2)])
  ids = np.round((ids + 1) * 127.5).astype(int)
  assert sorted(ids.tolist()) == list(range(8))


def test_hosts_split_the_global_batch():
  single = pipeline.ClipIterator(_render, 16, global_batch=4, seed=2)
  hosts = [pipeline.ClipIterator(_render, 16, global_batch=4, seed=2, process_index=p,
                                 process_count=2) for p in range(2)]
  for _ in range(3):
    whole = next(single)["video"]
    parts = np.concatenate([next(h)["video"] for h in hosts])
    np.testing.assert_array_equal(whole, parts)


def test_batch_not_divisible_by_hosts():
  with pytest.raises(ValueError, match="not divisible"):
    pipeline.ClipIterator(_render, 16, global_batch=3, seed=0, process_count=2)
