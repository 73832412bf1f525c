"""The evaluator: named suites, one per question a model is judged on (big_vision's evaluators).

  python -m jaxvid.evaluate --suite=NAME --workdir=DIR [--output=OUT.json]

Each suite is a module with check/run/format_table; `run(models, options, features, load)`
takes the models (`jaxvid.load` of each --workdir: a training workdir or an export), the
options, the shared I3D feature cache and the loader, and returns a JSON-able report.
"""
from __future__ import annotations

import dataclasses
from types import ModuleType

from jaxvid.errors import UserError
from jaxvid.evaluators import (classify, common, edn, pose_forecast, pose_gan, pose_knows,
                               vgan_streams, video)


@dataclasses.dataclass(frozen=True)
class Suite:
  name: str
  module: ModuleType
  kinds: tuple[str, ...]  # the model kinds it measures
  summary: str
  several: bool = False  # takes several workdirs (compared side by side)


SUITES = {s.name: s for s in (
    Suite("video", video, ("vgan", "pose_gan", "edn"),
          "held-out clips: --metrics (FVD, LPIPS, SSIM, PSNR, pose) with intervals; "
          "--baselines adds real/real, shuffled, first frame repeated, another clip's poses, "
          "untrained; --protocol=stylegan_v for FVD of 2,048 videos"),
    Suite("vgan_streams", vgan_streams, ("vgan",),
          "VGAN's mask and checkerboard measures against the true sprite masks "
          "(synthetic_scenes), three ways of sampling, FVD of the video and of the background"),
    Suite("pose_forecast", pose_forecast, ("pose_vae",),
          "pose-VAE futures: best/mean of N, z from Q, z = 0, zero and constant velocity, "
          "active units, mode hit rate; a figure"),
    Suite("pose_gan", pose_gan, ("pose_gan",),
          "pose GAN vs first frame repeated and another clip's poses: L1, PSNR, SSIM, LPIPS, FVD"),
    Suite("pose_knows", pose_knows, ("pose_vae", "pose_gan", "vgan"),
          "the pipeline (best of k and mean over k futures) vs the pose GAN with true poses, "
          "a conditional VGAN and the first frame repeated: whole-frame and body-crop L1, "
          "PSNR, SSIM, LPIPS, FVD; --workdir=VAE,GAN[,CONDITIONAL_VGAN]", several=True),
    Suite("edn", edn, ("edn",),
          "EDN's table: whole/body/face SSIM and LPIPS, temporal L1 vs plate, random frame and "
          "retrieval; several workdirs side by side; --transfer measures pose following",
          several=True),
    Suite("classify", classify, ("vgan_classify",),
          "VGAN's D as a video classifier (the paper's action recognition): top-1 and per-class "
          "accuracy with intervals, several workdirs side by side, confusion matrices",
          several=True),
)}
# What `--suite` defaults to for each kind of model.
DEFAULT = {"vgan": "video", "pose_gan": "pose_gan", "pose_vae": "pose_forecast", "edn": "edn",
           "vgan_classify": "classify"}


def get(name: str) -> Suite:
  if name not in SUITES:
    raise UserError(f"unknown suite {name!r}; available: {', '.join(SUITES)}")
  return SUITES[name]


def listing() -> str:
  width = max(map(len, SUITES))
  return "\n".join(f"{s.name:{width}s}  ({', '.join(s.kinds)}) {s.summary}"
                   for s in SUITES.values())


def run(suite: Suite, models: list, options: common.Options, load) -> dict:
  """The suite on `models`, with features cached in the first model's workdir."""
  if len(models) > 1 and not suite.several:
    raise UserError(f"suite {suite.name} takes one --workdir, got {len(models)}")
  for model in models:
    if model.kind not in suite.kinds:
      raise UserError(f"suite {suite.name} measures {', '.join(suite.kinds)} models; "
                      f"{model.workdir} holds a {model.kind!r} model")
  # a model's clip sets in its workdir; the dataset's own (real clips, baselines) beside it
  data_dir = models[0].config.data.get("data_dir", "")
  features = common.Features(common.cache_dir_for(models[0].workdir, options.cache),
                             options.progress,
                             shared_dir=common.cache_dir_for(data_dir, options.cache))
  report = suite.module.run(models, options, features, load)
  return {"suite": suite.name, "workdir": ",".join(m.workdir for m in models), **report}
