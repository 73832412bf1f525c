"""Input-pipeline throughput next to the train step's consumption rate.

  python -m benchmarks.data_throughput --config=configs/vgan.py --batches=50
  python -m benchmarks.data_throughput --config=configs/vgan.py:paper --batches=10 --workers=0,2

Builds the dataset if needed (timed separately), then times `--batches` batches of the grain
pipeline (after one warm-up batch) and, unless --step_time is given, one timed train step of
the same config, and prints clips/s of each and their ratio (pipeline must be > 1x).
"""
from __future__ import annotations

import time

import jax
from absl import app, flags
from ml_collections import config_flags

from jaxvid.data import pipeline

_CONFIG = config_flags.DEFINE_config_file("config", "configs/vgan.py", "config[:variant]")
_BATCHES = flags.DEFINE_integer("batches", 50, "batches to time")
_WORKERS = flags.DEFINE_list("workers", ["0"], "grain worker counts to time")
_STEP_TIME = flags.DEFINE_float("step_time", 0.0, "train step seconds (0: measure one)")


def pipeline_clips_per_s(config, workers: int, batches: int) -> float:
  with config.unlocked():
    config.data.workers = workers
  it = pipeline.make_train_iterator(config)
  next(it)  # warm-up: opens files, starts workers
  t0 = time.perf_counter()
  for _ in range(batches):
    next(it)
  elapsed = time.perf_counter() - t0
  it.close()
  return batches * config.train.batch_size / elapsed


def train_step_seconds(config) -> float:
  from benchmarks.timing import time_config
  return time_config(config, steps=3)["step_s"]


def main(argv):
  del argv
  config = _CONFIG.value
  t0 = time.perf_counter()
  pipeline.prepare(config.data)
  print(f"dataset {config.data.name} {config.data.frames}x{config.data.height}x"
        f"{config.data.width}: ready in {time.perf_counter() - t0:.1f} s")
  step_s = _STEP_TIME.value or train_step_seconds(config)
  consume = config.train.batch_size / step_s
  print(f"train step ({jax.devices()[0].platform}): {step_s:.3f} s/step = {consume:.1f} clips/s "
        f"at batch {config.train.batch_size}")
  for workers in (int(w) for w in _WORKERS.value):
    rate = pipeline_clips_per_s(config, workers, _BATCHES.value)
    print(f"pipeline workers={workers}: {rate:.1f} clips/s = {rate / consume:.1f}x the train step")


if __name__ == "__main__":
  app.run(main)
