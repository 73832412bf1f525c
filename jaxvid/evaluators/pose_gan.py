"""Suite 'pose_gan': the pose-conditioned video GAN on held-out clips against the baselines that
ignore its poses.

G(I, S_T) is run with each test clip's first frame and its true skeleton video. Rows:
  pose GAN                 G with the clip's own poses
  first frame repeated     the real first frame held over the clip (the paper's static baseline:
                           the best a model ignoring the poses can do on static scenes)
  another clip's poses     G with the clip's first frame and the next clip's poses (what the
                           output owes to the poses)
L1, PSNR, SSIM and LPIPS (VGG) against the real clip over frames 1..T-1 (frame 0 is the input),
on the whole frame and on the body crop (the pose_knows suite's window around each frame's true
pose), each a mean over clips with a bootstrap 95 % interval; FVD (Kinetics-400 I3D, whole
clips) with a bootstrap 95 % interval over clips (--nofvd skips it). --num_test builds a larger
held-out split of a synthetic dataset (the clips after the training ones, which stay as they
were), as the edn suite.
"""
from __future__ import annotations

import jax
import numpy as np

from jaxvid.data import pipeline
from jaxvid.errors import UserError
from jaxvid.evaluators import common
from jaxvid.evaluators.pose_knows import METRICS as FRAME_METRICS
from jaxvid.evaluators.pose_knows import body_crop, clip_metrics

METRICS = FRAME_METRICS + ("FVD",)
GENERATE_BATCH = 8  # the batch G runs in (BatchNorm uses the batch's statistics, as training)


def generate(model, batch: dict, keypoints: np.ndarray) -> np.ndarray:
  """G(I, S_T) for every clip of `batch` driven by `keypoints`, GENERATE_BATCH clips per call,
  call i with the key jax.random.key(i)."""
  sample = model.jitted_trainer_sample
  chunk = lambda i: model.trainer.sample_inputs(jax.random.key(i), {
      "video": batch["video"][i:i + GENERATE_BATCH], "keypoints": keypoints[i:i + GENERATE_BATCH]})
  return np.concatenate([np.asarray(sample(model.state, chunk(i))["video"])
                         for i in range(0, len(batch["video"]), GENERATE_BATCH)])


def check(model, options: common.Options) -> None:
  if model.kind != "pose_gan":
    raise UserError(f"suite pose_gan measures a pose_gan model; this is {model.kind!r}")
  if options.num_videos < 0 or options.num_test < 0:
    raise UserError(f"--num_videos and --num_test must be >= 0, got {options.num_videos} and "
                    f"{options.num_test}")
  common.held_out_config(model.config, options.num_test)  # its errors, before any work


def run(models, options: common.Options, features: common.Features, load=None) -> dict:
  (model,) = models
  check(model, options)
  config = common.held_out_config(model.config, options.num_test)
  available = len(pipeline.test_source(config))
  num = options.num_videos or min(available, 256)
  if num > available:
    raise UserError(f"--num_videos={num}, but the test split has {available} clips")
  batch = pipeline.make_sample_batch(config, num, held_out_only=True)
  real = batch["video"]
  d = config.data
  candidates = {f"pose GAN (step {model.step})": generate(model, batch, batch["keypoints"]),
                "first frame repeated": np.broadcast_to(real[:, :1], real.shape),
                "another clip's poses": generate(model, batch,
                                                 np.roll(batch["keypoints"], 1, axis=0))}
  lpips = common.lpips_net({}, "vgg")  # the VGG16 variant this suite has reported
  crop, side = body_crop(batch["keypoints"], d.height, d.width)
  rows = {}
  for name, pred in candidates.items():
    row = {}
    for metric, values in clip_metrics(pred, real, crop, lpips).items():  # frames 1..T-1
      row.update(common.mean_row(metric, list(values)))
    if options.fvd:
      baseline = name == "first frame repeated"  # from the dataset alone
      fvd = common.fvd_row(features.i3d(pred, name, shared=baseline),
                           features.i3d(real, "real clips", shared=True), paired=True)
      row.update({"FVD": fvd["fvd"], "FVD_95": fvd["fvd_95"]})
    rows[name] = row
  return {"model": model.kind, "clips": int(real.shape[0]), "step": int(model.step),
          "body_crop": side, "rows": rows}


def format_table(report: dict) -> str:
  lines = [f"pose GAN {report['workdir']}: {report['clips']} held-out clips, frames 1..T-1 (FVD: "
           f"whole clips), body crop {report.get('body_crop', '?')} px; mean [bootstrap 95 % "
           f"interval]"]
  metrics = [m for m in METRICS if m in next(iter(report["rows"].values()))]
  for name, r in report["rows"].items():
    cells = [f"{m} {r[m]:.4g} [{r[m + '_95'][0]:.4g}, {r[m + '_95'][1]:.4g}]" for m in metrics]
    lines.append(f"  {name:26s} " + "  ".join(cells))
  return "\n".join(lines)
