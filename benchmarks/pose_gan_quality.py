"""Pose-conditioned video GAN on held-out clips against the baselines that ignore its poses.

  python benchmarks/pose_gan_quality.py --workdir=runs/pose_gan --max_clips=256 [--json=PATH]

G(I, S_T) is run with each test clip's first frame and its true skeleton video. Rows:
  pose GAN                 G with the clip's own poses
  first frame repeated     the real first frame held over the clip (the paper's static baseline:
                           the best a model ignoring the poses can do on static scenes)
  another clip's poses     G with the clip's first frame and the next clip's poses (what the
                           output owes to the poses)
L1, PSNR, SSIM and LPIPS (VGG) against the real clip over frames 1..T-1 (frame 0 is the input),
each a mean over clips with a bootstrap 95 % interval; FVD (Kinetics-400 I3D, whole clips) with
a bootstrap 95 % interval over clips (`--fvd=false` skips it: ~0.6 s per clip per row on 2 CPU
cores).
"""
from __future__ import annotations

import json
import time

import numpy as np
from absl import app, flags

def fvd_with_interval(features: np.ndarray, real_features: np.ndarray, seed: int = 0) -> dict:
  from jaxvid.metrics import fvd as fvd_lib
  from jaxvid.metrics.intervals import fvd_interval
  return {"FVD": fvd_lib.fvd(features, real_features),
          "FVD_95": list(fvd_interval(features, real_features, paired=True, seed=seed))}


def evaluate(workdir: str, max_clips: int, with_fvd: bool = False, with_lpips: bool = True,
             log=lambda message: None) -> dict:
  import jax

  from jaxvid import checkpoint as ckpt_lib
  from jaxvid.data import pipeline
  from jaxvid.metrics import image
  from jaxvid.metrics.intervals import bootstrap_mean_interval
  from jaxvid.trainers import get_trainer

  trainer = get_trainer(ckpt_lib.load_config(workdir))
  step, state = ckpt_lib.load_latest(trainer, workdir)
  available = len(pipeline.data_source(trainer.config, "test"))
  if max_clips > available:  # make_sample_batch would repeat clips
    log(f"the test split has {available} clips: using {available}, not {max_clips}")
  batch = pipeline.make_sample_batch(trainer.config, min(max_clips, available))
  sample = jax.jit(trainer.sample)

  def generate(keypoints):
    chunk = lambda i: trainer.sample_inputs(jax.random.key(i), {
        "video": batch["video"][i:i + 8], "keypoints": keypoints[i:i + 8]})
    return np.concatenate([np.asarray(sample(state, chunk(i))["video"])
                           for i in range(0, len(batch["video"]), 8)])

  real = batch["video"]
  candidates = {f"pose GAN (step {step})": generate(batch["keypoints"]),
                "first frame repeated": np.broadcast_to(real[:, :1], real.shape),
                "another clip's poses": generate(np.roll(batch["keypoints"], 1, axis=0))}
  lpips = None
  if with_lpips:
    from jaxvid.metrics.lpips import LPIPS
    lpips = LPIPS("vgg")  # the VGG16 variant this benchmark has reported
  features = {}
  if with_fvd:
    from jaxvid.metrics.fvd import I3DFeatures
    i3d = I3DFeatures()
    start = time.time()
    features["real"] = i3d(real)
    log(f"I3D features of {len(real)} real clips: {time.time() - start:.0f} s")
  rows = {}
  for name, pred in candidates.items():
    per_clip = {"L1": [], "PSNR": [], "SSIM": [], "LPIPS": []}
    for p, r in zip(pred[:, 1:], real[:, 1:]):  # one clip's frames 1..T-1
      per_clip["L1"].append(float(np.mean(np.abs(p - r))))
      per_clip["PSNR"].append(float(np.mean(image.psnr(p, r))))
      per_clip["SSIM"].append(float(np.mean(image.ssim(p, r))))
      if lpips is not None:
        per_clip["LPIPS"].append(float(np.mean(lpips(p, r))))
    row = {}
    for metric, values in per_clip.items():
      if values:
        row[metric] = float(np.mean(values))
        row[metric + "_95"] = list(bootstrap_mean_interval(values))
    if with_fvd:
      start = time.time()
      row.update(fvd_with_interval(i3d(pred), features["real"]))
      log(f"{name}: FVD {row['FVD']:.1f} ({time.time() - start:.0f} s)")
    rows[name] = row
  return {"clips": int(real.shape[0]), "step": int(step), "rows": rows}


def main(argv):
  del argv
  f = flags.FLAGS
  report = evaluate(f.workdir, f.max_clips, f.fvd, log=lambda m: print(m, flush=True))
  print(f"{report['clips']} held-out clips, frames 1..T-1 (FVD: whole clips); mean "
        f"[bootstrap 95 % interval]")
  metrics = [m for m in ("L1", "PSNR", "SSIM", "LPIPS", "FVD")
             if m in next(iter(report["rows"].values()))]
  for name, r in report["rows"].items():
    cells = [f"{m} {r[m]:.4g} [{r[m + '_95'][0]:.4g}, {r[m + '_95'][1]:.4g}]" for m in metrics]
    print(f"  {name:26s} " + "  ".join(cells))
  if f.json:
    with open(f.json, "w") as out:
      json.dump(report, out, indent=1)
    print(f"wrote {f.json}")


if __name__ == "__main__":  # flags only here: the tests import evaluate()
  flags.DEFINE_string("workdir", "runs/pose_gan", "pose_gan training workdir")
  flags.DEFINE_integer("max_clips", 64, "test clips used at most")
  flags.DEFINE_bool("fvd", True, "also FVD (I3D on every clip of every row)")
  flags.DEFINE_string("json", None, "write the report here")
  app.run(main)
