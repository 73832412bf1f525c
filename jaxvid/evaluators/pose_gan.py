"""Suite 'pose_gan': the pose-conditioned video GAN on held-out clips against the baselines that
ignore its poses.

G(I, S_T) is run with each test clip's first frame and its true skeleton video. Rows:
  pose GAN                 G with the clip's own poses
  first frame repeated     the real first frame held over the clip (the paper's static baseline:
                           the best a model ignoring the poses can do on static scenes)
  another clip's poses     G with the clip's first frame and the next clip's poses (what the
                           output owes to the poses)
L1, PSNR, SSIM and LPIPS (VGG) against the real clip over frames 1..T-1 (frame 0 is the input),
each a mean over clips with a bootstrap 95 % interval; FVD (Kinetics-400 I3D, whole clips) with
a bootstrap 95 % interval over clips (--nofvd skips it).
"""
from __future__ import annotations

import jax
import numpy as np

from jaxvid.data import pipeline
from jaxvid.errors import UserError
from jaxvid.evaluators import common
from jaxvid.metrics import image

METRICS = ("L1", "PSNR", "SSIM", "LPIPS", "FVD")
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
  if options.num_videos < 0:
    raise UserError(f"--num_videos must be >= 0, got {options.num_videos}")


def run(models, options: common.Options, features: common.Features, load=None) -> dict:
  (model,) = models
  check(model, options)
  available = len(pipeline.data_source(model.config, "test"))
  num = options.num_videos or min(available, 256)
  if num > available:
    raise UserError(f"--num_videos={num}, but the test split has {available} clips")
  batch = pipeline.make_sample_batch(model.config, num)
  real = batch["video"]
  candidates = {f"pose GAN (step {model.step})": generate(model, batch, batch["keypoints"]),
                "first frame repeated": np.broadcast_to(real[:, :1], real.shape),
                "another clip's poses": generate(model, batch,
                                                 np.roll(batch["keypoints"], 1, axis=0))}
  lpips = common.lpips_net({}, "vgg")  # the VGG16 variant this suite has reported
  rows = {}
  for name, pred in candidates.items():
    per_clip = {"L1": [], "PSNR": [], "SSIM": [], "LPIPS": []}
    for p, r in zip(pred[:, 1:], real[:, 1:]):  # one clip's frames 1..T-1
      per_clip["L1"].append(float(np.mean(np.abs(p - r))))
      per_clip["PSNR"].append(float(np.mean(image.psnr(p, r))))
      per_clip["SSIM"].append(float(np.mean(image.ssim(p, r))))
      per_clip["LPIPS"].append(float(np.mean(lpips(p, r))))
    row = {}
    for metric, values in per_clip.items():
      row.update(common.mean_row(metric, values))
    if options.fvd:
      baseline = name == "first frame repeated"  # from the dataset alone
      fvd = common.fvd_row(features.i3d(pred, name, shared=baseline),
                           features.i3d(real, "real clips", shared=True), paired=True)
      row.update({"FVD": fvd["fvd"], "FVD_95": fvd["fvd_95"]})
    rows[name] = row
  return {"model": model.kind, "clips": int(real.shape[0]), "step": int(model.step),
          "rows": rows}


def format_table(report: dict) -> str:
  lines = [f"pose GAN {report['workdir']}: {report['clips']} held-out clips, frames 1..T-1 (FVD: "
           f"whole clips); mean [bootstrap 95 % interval]"]
  metrics = [m for m in METRICS if m in next(iter(report["rows"].values()))]
  for name, r in report["rows"].items():
    cells = [f"{m} {r[m]:.4g} [{r[m + '_95'][0]:.4g}, {r[m + '_95'][1]:.4g}]" for m in metrics]
    lines.append(f"  {name:26s} " + "  ".join(cells))
  return "\n".join(lines)
