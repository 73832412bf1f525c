"""What many test files share: the repository root, one TFDS data_dir per test process, the
configs at test size, reading a run's checkpoint and metrics back, poisoned batches."""
import importlib
import json
import os
import tempfile

import jax
import numpy as np

from jaxvid import checkpoint as ckpt_lib
from jaxvid.data import pipeline
from jaxvid.trainers import get_trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One TFDS data_dir per test process: the tiny datasets are built once and shared by its tests.
DATA_DIR = tempfile.mkdtemp(prefix="jaxvid-test-tfds-")


def load_config(name="vgan.py", variant="tiny", **overrides):
  """configs/<name>'s `variant`, data built in this process's DATA_DIR; overrides as
  section__key=value."""
  config = importlib.import_module(f"configs.{name.removesuffix('.py')}").get_config(variant)
  config.data.data_dir = DATA_DIR
  for dotted, value in overrides.items():
    node = config
    *path, leaf = dotted.split("__")
    for p in path:
      node = node[p]
    node[leaf] = value
  return config


def load_final_state(config, workdir):
  trainer = get_trainer(config)
  template = trainer.init_state(jax.random.key(0))
  checkpointer = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"), 10, trainer.metadata())
  step = checkpointer.latest_step()
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  state = checkpointer.restore(step, ckpt_lib.abstract_like(template, sharding))
  data_states = checkpointer.data_states(step)
  checkpointer.close()
  return step, state, data_states


def read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def poison_batches(monkeypatch, first: int, last: int | None = None) -> None:
  """Make the training iterator put a NaN in the video of batches first..last (1-based)."""
  make = pipeline.make_train_iterator

  class Poisoned:
    def __init__(self, inner):
      self.inner, self.count = inner, 0

    def __next__(self):
      batch = {k: np.array(v) for k, v in next(self.inner).items()}
      self.count += 1
      if first <= self.count and (last is None or self.count <= last):
        batch["video"][0, 0, 0, 0, 0] = np.nan
      return batch

    def __getattr__(self, name):  # get_state, set_state, close
      return getattr(self.inner, name)

  monkeypatch.setattr(pipeline, "make_train_iterator", lambda *a, **k: Poisoned(make(*a, **k)))
