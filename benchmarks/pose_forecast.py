"""Pose forecast error of a trained pose-VAE against the zero- and constant-velocity baselines.

  python benchmarks/pose_forecast.py --config=configs/pose_vae.py --workdir=runs/pose_vae

On the held-out (test) clips of the config's dataset, every window of past + future + 1 frames
is forecast `--samples` times with z from the prior. Error = mean L2 distance in pixels between
predicted and true joints over the future steps; for the VAE both the best of N samples (the
paper's protocol for multimodal futures) and the mean over the N samples are reported.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from jaxvid import checkpoint as ckpt_lib
from jaxvid.data import pipeline
from jaxvid.models.pose_vae import PoseVAE
from jaxvid.trainers import get_trainer

_CONFIG = config_flags.DEFINE_config_file("config", "configs/pose_vae.py", "config[:variant]")
_WORKDIR = flags.DEFINE_string("workdir", "runs/pose_vae", "training workdir with checkpoints")
_SAMPLES = flags.DEFINE_integer("samples", 10, "futures sampled per window (N)")


def joint_error(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
  """Mean L2 over future steps and joints: (..., T, J, 2) -> (...)."""
  return np.linalg.norm(pred - truth, axis=-1).mean(axis=(-1, -2))


def main(argv):
  del argv
  config = _CONFIG.value
  trainer = get_trainer(config)
  p = config.pose_vae
  step, state = ckpt_lib.load_latest(trainer, _WORKDIR.value)
  source = pipeline.prepare(config.data).as_data_source(split="test")
  scale = np.array([config.data.width, config.data.height], np.float32)

  @jax.jit
  def forecast(window, key):
    keys = jax.random.split(key, _SAMPLES.value)
    run = lambda k: trainer.model.apply(
        {"params": state.params}, window["frame"], window["past_poses"],
        window["past_velocities"], p.future_steps, rngs={"latent": k},
        method=PoseVAE.forecast)[1]
    return jax.vmap(run)(keys)  # (N, B, future + 1, 18, 3)

  errors = {"zero-velocity": [], "constant-velocity": [], f"VAE best of {_SAMPLES.value}": [],
            f"VAE mean of {_SAMPLES.value}": []}
  key = jax.random.key(1)
  for i in range(len(source)):
    record = source[i]
    batch = {"keypoints": jnp.asarray(record["keypoints"])[None],
             "video": jnp.asarray(record["video"], jnp.float32)[None] / 127.5 - 1.0}
    for offset in range(config.data.frames - trainer.window + 1):
      window = trainer.split_window(batch, offset)
      truth = np.asarray(window["future_true_poses"][0, 1:, :, :2]) * scale
      current = np.asarray(window["past_poses"][0, -1, :, :2]) * scale
      last_velocity = np.asarray(window["past_velocities"][0, -1]) * scale
      steps = np.arange(1, p.future_steps + 1)[:, None, None]
      errors["zero-velocity"].append(joint_error(np.broadcast_to(current, truth.shape), truth))
      errors["constant-velocity"].append(joint_error(current + steps * last_velocity, truth))
      key, sub = jax.random.split(key)
      samples = np.asarray(forecast(window, sub))[:, 0, 1:, :, :2] * scale
      per_sample = joint_error(samples, truth[None])
      errors[f"VAE best of {_SAMPLES.value}"].append(per_sample.min())
      errors[f"VAE mean of {_SAMPLES.value}"].append(per_sample.mean())
  print(f"pose forecast error on {len(source)} held-out clips ({config.data.name}, "
        f"{config.data.height}x{config.data.width}, checkpoint step {step}, "
        f"{p.past_steps} past / {p.future_steps} future steps), mean joint L2 in pixels:")
  for name, values in errors.items():
    print(f"  {name:22s} {np.mean(values):7.3f}  ({len(values)} windows)")


if __name__ == "__main__":
  app.run(main)
