"""Suite 'video': any video model on held-out clips of its own dataset, with the metrics asked
for (FVD, LPIPS, SSIM, PSNR, pose distance) and, with --baselines, the rows that say what the
numbers mean.

Generated videos: VGAN samples (unconditional: only FVD compares sets; the conditional model
predicts each clip from its first frame), the pose GAN's G(I, S_T), EDN's frame-by-frame output
from the clips' poses. Paired metrics (SSIM, PSNR, LPIPS per frame, averaged; EDN's pose
distance) need a model whose output corresponds to a real clip. Baselines, on the same clips:
real vs real (train-split clips), real vs temporally shuffled real, the real first frame
repeated (the paper's static baseline; for the conditional VGAN "input frame repeated", and its
paired metrics cover the frames it predicts, 2..T), for pose-conditioned models the model
driven by another clip's poses, and the untrained model. Protocols: 'held_out' (the test
split, <= 256 clips) or 'stylegan_v' (FVD of 2,048 generated 16-frame videos against 2,048 train
clips).
"""
from __future__ import annotations

import jax
import numpy as np

from jaxvid import checkpoint as ckpt_lib
from jaxvid import progress, visualize
from jaxvid.data import pipeline
from jaxvid.errors import UserError
from jaxvid.evaluators import common
from jaxvid.metrics import image
from jaxvid.metrics.pose_distance import pose_distance

# lpips: AlexNet LPIPS (the LPIPS package's default, what video-prediction papers report);
# lpips_vgg: the VGG16 variant
METRICS = ("fvd", "lpips", "lpips_vgg", "ssim", "psnr", "pose")
# StyleGAN-V's FVD protocol (Skorokhodov et al. 2022): 2,048 generated videos of 16 frames
# against 2,048 real clips of the dataset (here: its train split), no pairing.
STYLEGAN_V_VIDEOS, STYLEGAN_V_FRAMES = 2048, 16
PROTOCOLS = ("held_out", "stylegan_v")
MAX_HELD_OUT = 256


def check_metrics(metrics) -> list[str]:
  metrics = [m.strip() for m in metrics if m.strip()]
  unknown = [m for m in metrics if m not in METRICS]
  if unknown:
    raise UserError(f"unknown metrics {unknown}; available: {', '.join(METRICS)}")
  if not metrics:
    raise UserError(f"--metrics is empty; available: {', '.join(METRICS)}")
  return metrics


class RowMaker:
  """One row of metrics of generated clips against real ones; features shared across rows."""

  def __init__(self, metrics, features: common.Features, seed: int = 0, first_frame: int = 0):
    """first_frame: where the paired metrics start (1 for a model given frame 0: the
    conditional VGAN is judged on the future it predicts, frames 2..T; FVD sees whole clips)."""
    self.metrics = list(metrics)
    self.features = features
    self.seed = seed
    self.first_frame = first_frame
    self._lpips: dict = {}

  def row(self, generated, real, paired: bool, keypoints=None, what: str = "clips",
          shared: bool = False) -> dict:
    """`shared`: `generated` comes from the dataset alone (a baseline), not from a model."""
    out = {}
    if "fvd" in self.metrics:
      real_features = self.features.i3d(real, "real clips", shared=True)
      out.update(common.fvd_row(self.features.i3d(generated, what, shared), real_features,
                                paired))
    generated, real = generated[:, self.first_frame:], real[:, self.first_frame:]
    keypoints = None if keypoints is None else keypoints[:, self.first_frame:]
    flat = lambda v: v.reshape((-1,) + v.shape[2:])
    n = len(generated)
    clip_means = lambda per_frame: np.asarray(per_frame, np.float64).reshape(n, -1).mean(1)
    if paired and "ssim" in self.metrics:
      out.update(common.mean_row("ssim", clip_means(image.ssim(flat(generated), flat(real)))))
    if paired and "psnr" in self.metrics:
      out.update(common.mean_row("psnr", clip_means(image.psnr(flat(generated), flat(real)))))
    for metric, net in (("lpips", "alex"), ("lpips_vgg", "vgg")):
      if paired and metric in self.metrics:
        lpips = common.lpips_net(self._lpips, net)
        out.update(common.mean_row(metric, clip_means(
            common.per_frame_lpips(lpips, flat(generated), flat(real)))))
    if paired and "pose" in self.metrics and keypoints is not None:
      result = pose_distance(visualize.to_uint8(flat(generated)), flat(keypoints))
      out["pose_distance_px"] = result["distance"]
      out["pose_missed"] = result["missed"] / max(result["frames"], 1)
    return out


def check(model, options: common.Options) -> None:
  """The suite's one-line errors before any long work."""
  metrics = check_metrics(options.metrics)
  if options.num_videos < 0:
    raise UserError(f"--num_videos must be >= 0 (0: the whole test split, at most "
                    f"{MAX_HELD_OUT}), got {options.num_videos}")
  if not model.trainer.evaluates_videos:
    raise UserError(f"a {model.kind} model makes poses, not videos: its suite is pose_forecast")
  paired_only = [m for m in metrics if m != "fvd"]
  if paired_only and not model.paired and not options.baselines:
    raise UserError(f"--metrics={','.join(paired_only)} compare each video with the clip it was "
                    f"made for; this {model.kind} model is unconditional (its samples belong to "
                    f"no clip): use --metrics=fvd")
  if options.protocol == "stylegan_v":
    if options.baselines or options.num_videos or metrics != ["fvd"]:
      raise UserError("--protocol=stylegan_v is FVD of 2,048 videos: give --metrics=fvd and "
                      "no --num_videos or --baselines")
    if model.paired:
      raise UserError("--protocol=stylegan_v is for unconditional video models; this one makes "
                      "videos for given clips: use the default held_out protocol")
    if model.config.data.frames != STYLEGAN_V_FRAMES:
      raise UserError(f"--protocol=stylegan_v takes clips of {STYLEGAN_V_FRAMES} frames; this "
                      f"model makes {model.config.data.frames}")


def _generate(model, batch, key, options, what: str) -> np.ndarray:
  with progress.bar(len(batch["video"]), f"generate, {what}", "clip", options.progress) as bar:
    return model.videos_for(batch, key, progress=bar.update)


def run_stylegan_v(model, options: common.Options, features: common.Features) -> dict:
  n = STYLEGAN_V_VIDEOS
  train = pipeline.data_source(model.config, "train")
  if len(train) < n:
    raise UserError(f"--protocol=stylegan_v needs {n} real clips; the train split has "
                    f"{len(train)}")
  to_model = pipeline.ToModel()
  index = np.random.default_rng(options.seed).choice(len(train), n, replace=False)
  real = np.stack([to_model.map(train[int(i)])["video"] for i in index])
  generated = _generate(model, {"video": real}, jax.random.key(options.seed), options, "model")
  row = common.fvd_row(features.i3d(generated, "model"),
                       features.i3d(real, "real clips", shared=True), False)
  return {"model": model.kind, "step": int(model.step), "videos": n,
          "clip": list(real.shape[1:4]), "paired": False, "protocol": "stylegan_v",
          "rows": {f"{model.kind} (step {model.step})": row}}


def run(models, options: common.Options, features: common.Features, load=None) -> dict:
  (model,) = models
  check(model, options)
  if options.protocol == "stylegan_v":
    return run_stylegan_v(model, options, features)
  config = model.config
  held_out = len(pipeline.test_source(config))
  num_videos = options.num_videos or min(held_out, MAX_HELD_OUT)
  if num_videos > held_out:
    raise UserError(f"--num_videos={num_videos}, but the held-out split has {held_out} clips: "
                    f"ask for at most {held_out} (clips are not repeated: a repeated clip "
                    f"would shrink FVD and narrow every interval), or build a larger test split")
  conditional_vgan = model.kind == "vgan" and model.conditional
  maker = RowMaker(check_metrics(options.metrics), features, options.seed,
                   first_frame=1 if conditional_vgan else 0)
  batch = pipeline.make_sample_batch(config, num_videos, held_out_only=True)
  real = batch["video"]
  keypoints = batch.get("keypoints")
  key = jax.random.key(options.seed)
  paired = model.paired
  generated = _generate(model, batch, key, options, "model")
  rows = {f"{model.kind} (step {model.step})": maker.row(generated, real, paired, keypoints,
                                                         "model")}
  if options.baselines:
    train = pipeline.data_source(config, "train")
    to_model = pipeline.ToModel()
    other = np.stack([to_model.map(train[i])["video"] for i in range(min(len(real), len(train)))])
    rows["real vs real (train clips)"] = maker.row(other, real, True, what="train clips",
                                                   shared=True)
    rng = np.random.default_rng(options.seed)
    shuffled = np.stack([v[common.derangement(rng, len(v))] for v in real])
    rows["real vs temporally shuffled real"] = maker.row(shuffled, real, True, keypoints,
                                                         "shuffled clips", shared=True)
    still = np.broadcast_to(real[:, :1], real.shape)
    # for the conditional VGAN the first frame is its input: the baseline it must beat
    name = "input frame repeated" if conditional_vgan else "real first frame repeated"
    rows[name] = maker.row(still, real, True, keypoints, "first frame repeated", shared=True)
    if paired and keypoints is not None and len(real) > 1:
      # Each clip made from its own first frame and the next clip's poses.
      other_poses = dict(batch, keypoints=np.roll(batch["keypoints"], 1, axis=0))
      generated = _generate(model, other_poses, key, options, "another clip's poses")
      rows["another clip's poses"] = maker.row(generated, real, paired, keypoints,
                                               "another clip's poses")
    untrained = jax.jit(model.trainer.init_state)(jax.random.key(config.seed))
    if model.kind == "edn" and model.config.edn.stage == 2:
      # stage 1's G (frozen through stage 2: the model's own) under an untrained face GAN;
      # never read from config.edn.stage1_workdir, which an export does not carry
      untrained = ckpt_lib.copy_params(untrained, model.state, fields=("g_params",))[0]
    generated = _generate(model.with_state(untrained), batch, key, options, "untrained model")
    rows["untrained model"] = maker.row(generated, real, paired, keypoints, "untrained model")
  return {"model": model.kind, "step": int(model.step), "videos": int(len(real)),
          "clip": list(real.shape[1:4]), "paired": paired, "protocol": "held_out",
          "paired_frames": f"{maker.first_frame + 1}..{real.shape[1]}", "rows": rows}


def format_table(report: dict) -> str:
  what = ("videos vs as many train clips (StyleGAN-V protocol)"
          if report.get("protocol") == "stylegan_v" else "held-out clips")
  title = (f"{report['model']} from {report['workdir']}: {report['videos']} {what} of "
           f"{'x'.join(map(str, report['clip']))}")
  return common.format_rows(title, report["rows"])
