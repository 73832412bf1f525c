"""I3D features of VGAN runs' samples at several checkpoints, for FVD computed elsewhere.

  python -m experiments.vgan_features --workdirs=runs/a,runs/b --steps=4800,9600 --out=feats/

Writes one `.npz` per (run, step) with the I3D logits of `--num` generated videos, and per
dataset the real held-out clips' features and those of the real first frame repeated (the
paper's static baseline). FVD and its bootstrap interval then take seconds on any machine
(`--fvd` here, or `jaxvid.metrics.fvd` / `intervals`): this is how a GPU sweep of demo settings
(experiments/vgan_stabiliser_sweep.sh) brings its measurements back without the 400-d covariance
square roots of 200 bootstrap resamples on the GPU's clock. A step a run did not reach is
skipped; its newest `--last` checkpoints (default 1) are always included.
"""
from __future__ import annotations

import glob
import json
import os

import jax
import numpy as np
from absl import app, flags

import jaxvid
from jaxvid import checkpoint as ckpt_lib
from jaxvid.data import pipeline
from jaxvid.metrics import fvd as fvd_lib
from jaxvid.metrics.intervals import fvd_interval

flags.DEFINE_list("workdirs", [], "VGAN training workdirs")
flags.DEFINE_list("steps", [], "checkpoint steps to evaluate (besides each run's newest)")
flags.DEFINE_integer("last", 1, "also each run's newest `last` checkpoints")
flags.DEFINE_integer("num", 256, "held-out clips / generated videos")
flags.DEFINE_string("out", "", "folder for the .npz files (features mode)")
flags.DEFINE_string("pack", "", "after writing the features: also pack them into this one .npz")
flags.DEFINE_string("fvd", "", "instead: a folder of .npz files from this script, or the "
                    "sweep's packed features0.npz,features1.npz,...; print FVD")


def _steps(workdir: str) -> list[int]:
  return sorted(int(os.path.basename(p)) for p in glob.glob(f"{workdir}/checkpoints/[0-9]*"))


def dump_features(workdirs, steps, num: int, out: str, last: int = 1) -> None:
  os.makedirs(out, exist_ok=True)
  features = fvd_lib.I3DFeatures()
  real_done = set()
  for workdir in workdirs:
    if not _steps(workdir):  # a run that failed: the others' features still come back
      print(f"{workdir}: no checkpoints, skipped", flush=True)
      continue
    config = ckpt_lib.load_config(workdir)
    dataset = pipeline.make_builder(config.data).builder_config.name
    batch = pipeline.make_sample_batch(config, num)
    if dataset not in real_done:
      real = batch["video"]
      still = np.broadcast_to(real[:, :1], real.shape)
      np.savez(f"{out}/real_{dataset}.npz", real=features(real), static=features(still))
      real_done.add(dataset)
    have = _steps(workdir)
    for step in sorted({s for s in map(int, steps) if s in have} | set(have[-last:])):
      videos = jaxvid.load(workdir, step=step).videos_for(batch, jax.random.key(0))
      name = os.path.basename(os.path.normpath(workdir))
      np.savez(f"{out}/{name}_{step:06d}.npz", generated=features(videos), dataset=dataset)
      print(f"{name} step {step}: features of {len(videos)} videos", flush=True)


def pack(folder: str, path: str, parts: int = 6) -> list[str]:
  """Every .npz of `folder` in `parts` compressed .npz files (path's stem + 0.., with
  '<file>__<array>' keys, `_unpack`'s inverse): the GPU machine sends back only a few files per
  call, each under a size limit (48 checkpoints' features in one file, ~25 MB, did not come
  back)."""
  files = sorted(glob.glob(f"{folder}/*.npz"))
  written = []
  for part in range(parts):
    arrays = {}
    for npz in files[part::parts]:
      with np.load(npz) as z:
        arrays.update({f"{os.path.basename(npz)[:-4]}__{k}": z[k] for k in z.files})
    if arrays:
      written.append(f"{path[:-4]}{part}.npz")
      np.savez_compressed(written[-1], **arrays)
  return written


def _unpack(paths: list[str]) -> str:
  """The sweep's packed features ('<file>__<array>' keys, `pack`) as one folder of .npz."""
  folder = paths[0][:-4] + "_unpacked"
  os.makedirs(folder, exist_ok=True)
  for path in paths:
    with np.load(path) as z:
      for name in sorted({k.split("__")[0] for k in z.files}):
        np.savez(f"{folder}/{name}.npz", **{k.split("__")[1]: z[k] for k in z.files
                                            if k.split("__")[0] == name})
  return folder


def print_fvd(folder: str) -> None:
  if folder.endswith(".npz"):  # one or more packed files, comma-separated
    folder = _unpack(folder.split(","))
  rows = {}
  for path in sorted(glob.glob(f"{folder}/*.npz")):
    name = os.path.basename(path)[:-4]
    if name.startswith("real_"):
      continue
    data = np.load(path)
    real = np.load(f"{folder}/real_{data['dataset']}.npz")
    f_gen, f_real = data["generated"], real["real"]
    rows[name] = {"fvd": fvd_lib.fvd(f_gen, f_real), "fvd_95": fvd_interval(f_gen, f_real, False)}
    if f"static {data['dataset']}" not in rows:
      rows[f"static {data['dataset']}"] = {
          "fvd": fvd_lib.fvd(real["static"], f_real),
          "fvd_95": fvd_interval(real["static"], f_real, True)}
  for name, row in rows.items():
    low, high = row["fvd_95"]
    print(f"{name:40s} FVD {row['fvd']:7.1f} [{low:7.1f}, {high:7.1f}]")
  print(json.dumps({k: {"fvd": v["fvd"], "fvd_95": list(v["fvd_95"])} for k, v in rows.items()}))


def main(argv):
  del argv
  if flags.FLAGS.fvd:
    print_fvd(flags.FLAGS.fvd)
  else:
    dump_features(flags.FLAGS.workdirs, flags.FLAGS.steps, flags.FLAGS.num, flags.FLAGS.out,
                  flags.FLAGS.last)
    if flags.FLAGS.pack:
      pack(flags.FLAGS.out, flags.FLAGS.pack)


if __name__ == "__main__":
  app.run(main)
