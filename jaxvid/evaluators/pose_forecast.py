"""Suite 'pose_forecast': a trained pose-VAE's forecasts — diversity, modes and error against
velocity baselines.

On the held-out (test) clips of its dataset, each window is rolled out free-running (poses
integrated from the decoded velocities). Error = mean L2 in pixels between predicted and true
joints over the future steps. Rows (the report's `results` has exactly these keys):

  best_of_n_px / mean_of_n_px   N futures with z from the prior: the best one, and their mean
                                (err_prior_px is the same mean)
  constant_velocity_px / zero_velocity_px   the baselines
  err_posterior_px              z from Q given the true future; err_zero_z_px: z = 0
  active_units                  latent units whose KL(Q || prior), averaged over clips, > 0.01 nat
  mode_hit_rate                 (branching dancer) fraction of clips where every true move is the
                                nearest move of at least one of the N samples
  mode_freq_max_abs_dev         (branching dancer) largest gap between the fraction of samples
                                nearest a move and the fraction of clips that make it

Error rows carry a bootstrap 95 % interval over clips. The figure (default
WORKDIR/pose_forecast.gif, --figure=none skips it) shows, for a few clips, every move's true
future beside the samples.
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxvid import visualize
from jaxvid.data import pipeline
from jaxvid.errors import UserError
from jaxvid.evaluators import common
from jaxvid.metrics.intervals import bootstrap_mean_interval

_BATCH = 64
ACTIVE_KL_NATS = 0.01
FIGURE_CLIPS = 4


def joint_error(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
  """Mean L2 over future steps and joints: (..., T, J, 2) -> (...)."""
  return np.linalg.norm(pred - truth, axis=-1).mean(axis=(-1, -2))


def mode_statistics(samples: np.ndarray, branches: np.ndarray, modes: np.ndarray) -> dict:
  """samples (C, N, T, J, 2), branches (C, K, T, J, 2) every move's true future, modes (C,) the
  move each clip makes -> mode_hit_rate, mode_freq_max_abs_dev, the sampled frequencies."""
  num_modes = branches.shape[1]
  distance = joint_error(samples[:, :, None], branches[:, None])  # (C, N, K)
  nearest = distance.argmin(-1)  # (C, N)
  hit = np.all([(nearest == k).any(axis=1) for k in range(num_modes)], axis=0)
  sampled = np.bincount(nearest.ravel(), minlength=num_modes) / nearest.size
  true = np.bincount(modes, minlength=num_modes) / len(modes)
  return {"mode_hit_rate": float(hit.mean()),
          "mode_freq_max_abs_dev": float(np.abs(sampled - true).max()),
          "sampled_mode_freq": sampled.tolist(), "true_mode_freq": true.tolist()}


def forecast_errors(model, clips: dict, num_samples: int, seed: int = 1) -> tuple[dict, dict]:
  """(results, details) over every clip of `clips` (held-out clips as make_sample_batch gives
  them: float32 video in [-1, 1], keypoints in pixels)."""
  trainer, state = model.trainer, model.state
  config, p = trainer.config, trainer.config.pose_vae
  scale = np.array([config.data.width, config.data.height], np.float32)
  offsets = ([trainer.fixed_offset] if trainer.fixed_offset is not None
             else range(config.data.frames - trainer.window + 1))

  @jax.jit
  def run(batch, offset, key):
    w = trainer.split_window(batch, offset)
    prior_key, posterior_key = jax.random.split(key)
    prior = jax.vmap(lambda k: trainer.forecast(state, w, p.future_steps, k))(
        jax.random.split(prior_key, num_samples))  # (N, B, T + 1, 18, 3)
    z_q = trainer.posterior_z(state, w, posterior_key)
    posterior = trainer.forecast(state, w, p.future_steps, posterior_key, z=z_q)
    zero_z = trainer.forecast(state, w, p.future_steps, posterior_key, z=jnp.zeros_like(z_q))
    mean, log_var = trainer.posterior_params(state, w)
    unit_kl = 0.5 * (jnp.square(mean) + jnp.exp(log_var) - log_var - 1.0)  # (B, T, latent)
    return {"prior": jnp.swapaxes(prior, 0, 1), "posterior": posterior, "zero_z": zero_z,
            "unit_kl": unit_kl, "past_poses": w["past_poses"],
            "past_velocities": w["past_poses"][:, -1, :, :2] - w["past_poses"][:, -2, :, :2]
            if p.past_steps > 1 else jnp.zeros_like(w["past_poses"][:, -1, :, :2]),
            "truth": w["future_true_poses"]}

  rows = {k: [] for k in ("best", "mean", "constant", "zero", "posterior", "zero_z")}
  unit_kl, samples, branches, modes = [], [], [], []
  key = jax.random.key(seed)
  for start in range(0, len(clips["video"]), _BATCH):
    part = {k: v[start:start + _BATCH] for k, v in clips.items()}
    batch = {k: jnp.asarray(part[k]) for k in ("video", "keypoints")}
    size = len(part["video"])
    for offset in offsets:
      key, sub = jax.random.split(key)
      out = jax.device_get(run(batch, offset, sub))
      truth = out["truth"][:, 1:, :, :2] * scale
      current = out["past_poses"][:, -1, :, :2] * scale
      velocity = out["past_velocities"] * scale
      steps = np.arange(1, p.future_steps + 1)[None, :, None, None]
      per_sample = joint_error(out["prior"][:, :, 1:, :, :2] * scale, truth[:, None])  # (B, N)
      rows["best"].append(per_sample.min(1))
      rows["mean"].append(per_sample.mean(1))
      rows["zero"].append(joint_error(np.broadcast_to(current[:, None], truth.shape), truth))
      rows["constant"].append(joint_error(current[:, None] + steps * velocity[:, None], truth))
      rows["posterior"].append(joint_error(out["posterior"][:, 1:, :, :2] * scale, truth))
      rows["zero_z"].append(joint_error(out["zero_z"][:, 1:, :, :2] * scale, truth))
      unit_kl.append(out["unit_kl"].reshape(size, -1))
      if "branch_keypoints" in part:
        samples.append(out["prior"][:, :, 1:, :, :2] * scale)
        k = trainer.frames_per_step  # the true moves at the step frames after X_t
        first = offset + (p.past_steps + 1) * k
        branches.append(part["branch_keypoints"][:, :, first:first + p.future_steps * k:k, :, :2])
        modes.append(part["mode"].astype(int))
  rows = {k: np.concatenate(v) for k, v in rows.items()}
  mean_kl = np.concatenate(unit_kl).mean(0)
  results = {"best_of_n_px": float(rows["best"].mean()), "mean_of_n_px": float(rows["mean"].mean()),
             "constant_velocity_px": float(rows["constant"].mean()),
             "zero_velocity_px": float(rows["zero"].mean()),
             "err_posterior_px": float(rows["posterior"].mean()),
             "err_prior_px": float(rows["mean"].mean()),
             "err_zero_z_px": float(rows["zero_z"].mean()),
             "active_units": int((mean_kl > ACTIVE_KL_NATS).sum()),
             "mode_hit_rate": None, "mode_freq_max_abs_dev": None}
  extra = {"n": num_samples, "windows": int(len(rows["best"])), "unit_kl_nats": mean_kl.tolist(),
           "intervals": {k: bootstrap_mean_interval(v) for k, v in rows.items()}}
  if samples:
    stats = mode_statistics(np.concatenate(samples), np.concatenate(branches),
                            np.concatenate(modes))
    results["mode_hit_rate"] = stats.pop("mode_hit_rate")
    results["mode_freq_max_abs_dev"] = stats.pop("mode_freq_max_abs_dev")
    extra.update(stats)
  return results, extra


def write_figure(model, clips: dict, path: str, num_clips: int, num_samples: int) -> str:
  """The trainer's sample figure for the first clips with `num_samples` futures: the frames
  from X_t | every true future (or the one) | the sampled futures."""
  trainer, state = model.trainer, model.state
  clips = {k: v[:num_clips] for k, v in clips.items()}
  sample = jax.jit(lambda s, i: trainer.sample(s, i, num_futures=num_samples))
  outputs = jax.device_get(sample(state, trainer.sample_inputs(jax.random.key(7), clips)))
  grid = visualize.tile(trainer.figure(outputs, clips),
                        scale=max(1, 128 // trainer.config.data.height),
                        labels=trainer.figure_columns(num_futures=num_samples))
  return visualize.write_video(path, grid, fps=2)


NAMES = {"best": ("best_of_n_px", "VAE best of {n}"), "mean": ("mean_of_n_px", "VAE mean of {n} (prior)"),
         "posterior": ("err_posterior_px", "VAE z from Q(true future)"),
         "zero_z": ("err_zero_z_px", "VAE z = 0"),
         "constant": ("constant_velocity_px", "constant-velocity"),
         "zero": ("zero_velocity_px", "zero-velocity")}


def check(model, options: common.Options) -> None:
  if model.kind != "pose_vae":
    raise UserError(f"suite pose_forecast measures a pose_vae model; this is {model.kind!r}")
  if options.samples < 1:
    raise UserError(f"--samples must be >= 1, got {options.samples}")


def run(models, options: common.Options, features=None, load=None) -> dict:
  (model,) = models
  check(model, options)
  config, p = model.config, model.config.pose_vae
  num_test = len(pipeline.test_source(config))
  if num_test == 0:
    raise UserError("the dataset has no held-out (test) clips to forecast")
  num = min(options.num_videos or num_test, num_test)
  clips = pipeline.make_sample_batch(config, num, held_out_only=True)  # every held-out clip, once
  results, extra = forecast_errors(model, clips, options.samples)
  report = {"model": model.kind, "step": int(model.step), "clips": num,
            "dataset": config.data.name, "branching": bool(config.data.get("branching", False)),
            "frame": [int(config.data.height), int(config.data.width)],
            "past_steps": int(p.past_steps), "future_steps": int(p.future_steps),
            "results": results, "details": extra}
  figure = options.figure or os.path.join(model.workdir, "pose_forecast.gif")
  if figure != "none":
    report["figure"] = write_figure(model, clips, figure, FIGURE_CLIPS, options.samples)
  return report


def format_table(report: dict) -> str:
  results, extra, n = report["results"], report["details"], report["details"]["n"]
  lines = [f"pose forecast on {report['clips']} held-out clips ({report['dataset']}"
           f"{', branching' if report['branching'] else ''}, "
           f"{report['frame'][0]}x{report['frame'][1]}, checkpoint step {report['step']}, "
           f"{report['past_steps']} past / {report['future_steps']} future steps, "
           f"{extra['windows']} windows), mean joint L2 in pixels:"]
  for key, (result_key, name) in NAMES.items():
    lo, hi = extra["intervals"][key]
    lines.append(f"  {name.format(n=n):28s} {results[result_key]:7.3f}  [{lo:.3f}, {hi:.3f}]")
  lines.append(f"  best/mean ratio              "
               f"{results['best_of_n_px'] / results['mean_of_n_px']:7.3f}")
  lines.append(f"  active latent units          {results['active_units']} of "
               f"{len(extra['unit_kl_nats'])} (KL > {ACTIVE_KL_NATS} nat)")
  if results["mode_hit_rate"] is not None:
    lines.append(f"  mode hit rate (all moves among the {n} samples)  "
                 f"{results['mode_hit_rate']:.3f}")
    lines.append(f"  mode frequencies sampled {np.round(extra['sampled_mode_freq'], 3).tolist()} "
                 f"vs true {np.round(extra['true_mode_freq'], 3).tolist()} (max gap "
                 f"{results['mode_freq_max_abs_dev']:.3f})")
  if "figure" in report:
    lines.append(f"  figure: {report['figure']}")
  return "\n".join(lines)
