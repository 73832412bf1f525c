"""The trainer contract: what the shared loop (jaxvid/train.py), the evaluators and `jaxvid.load` ask
of a model. One subclass per model in this package; the loop never probes for methods.

Required (each trainer implements):
  name                         the model's key in `config.model`
  metadata() -> dict           model + architecture, stored with every checkpoint
  init_state(key) -> state     a flax.struct dataclass: parameters, optimizer states, step, key
  train_step(state, batch) -> (state, metrics)   pure; the loop jits and donates it
  sample_inputs(key, sample_batch) -> inputs     what `sample` needs for the fixed samples
  sample(state, inputs) -> outputs               arrays only (jit-able)
  figure(outputs, sample_batch) -> rows          rows of (T, H, W, 3) cells in [-1, 1]
  figure_columns() -> list[str]
Optional (defaults here):
  warm_start(state, load) -> state
                               a fresh run's state before step 1 (EDN stage 2 loads stage 1 with
                               `load`, which is jaxvid.load: trainers never read checkpoints)
  check_for_training()         start-up checks only training needs (EDN: its perceptual loss's
                               weights file); the loop calls it before any dataset build
  paired_outputs(outputs, sample_batch) -> (generated, real) | None
                               videos made for given real clips, for the loop's PSNR/SSIM
  paired                       whether `evaluate`'s generated clips correspond to its real ones
  evaluates_videos             False for a model `evaluate` does not cover (the pose-VAE)
  required_features            what each training clip must hold (data.pipeline checks the
                               dataset against it: a clear error before any build)
"""
from __future__ import annotations

import jax.numpy as jnp


def compute_dtype(config):
  """config.dtype (activations; parameters and optimizer states stay float32)."""
  try:
    return jnp.dtype(config.dtype)
  except TypeError as e:
    raise ValueError(f"config.dtype={config.dtype!r} is not a dtype") from e


class Trainer:
  name: str = ""
  evaluates_videos: bool = True
  required_features: tuple[str, ...] = ("video",)

  def __init__(self, config):
    self.config = config

  # ----- required -----
  def metadata(self) -> dict:
    raise NotImplementedError

  def init_state(self, key):
    raise NotImplementedError

  def train_step(self, state, batch):
    raise NotImplementedError

  def sample_inputs(self, key, sample_batch: dict):
    raise NotImplementedError

  def sample(self, state, inputs) -> dict:
    raise NotImplementedError

  def figure(self, outputs: dict, sample_batch: dict) -> list:
    raise NotImplementedError

  def figure_columns(self) -> list[str]:
    raise NotImplementedError

  # ----- optional -----
  def warm_start(self, state, load):
    del load
    return state

  def check_for_training(self) -> None:
    pass

  def paired_outputs(self, outputs: dict, sample_batch: dict):
    return None

  @property
  def paired(self) -> bool:
    return False
