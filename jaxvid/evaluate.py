"""Evaluate a trained video model: FVD, LPIPS, SSIM, PSNR, pose distance.

  python -m jaxvid.evaluate --workdir=runs/edn --metrics=fvd,lpips,ssim,psnr,pose \
      [--num_videos=N] [--baselines] [--output=runs/edn/eval.json]

Generated videos come from the model on the held-out (test) clips of its own dataset: VGAN
samples (unconditional: only FVD compares sets; the conditional model predicts each clip from
its first frame), the pose GAN's G(I, S_T), EDN's frame-by-frame generation from the clips'
poses. Paired metrics (SSIM, PSNR, LPIPS: per frame, averaged; pose distance: EDN's, on the
poses the frames were made from) need a model whose output corresponds to a real clip.
`--baselines` adds, on the same clips: real vs real (train-split clips), real vs temporally
shuffled real, the real first frame repeated over the clip (the paper's static baseline), for
pose-conditioned models the model driven by another clip's poses (what the output owes to the
poses), and the untrained model. Writes a JSON report and prints a table.
"""
from __future__ import annotations

import json
import sys

import jax
import numpy as np
from absl import app, flags

from jaxvid import checkpoint as ckpt_lib
from jaxvid import paths
from jaxvid.errors import UserError

FLAGS = flags.FLAGS
# lpips: AlexNet LPIPS (the LPIPS package's default, what video-prediction papers report);
# lpips_vgg: the VGG16 variant
METRICS = ("fvd", "lpips", "lpips_vgg", "ssim", "psnr", "pose")


def _batches(n: int, size: int):
  for i in range(0, n, size):
    yield slice(i, min(i + size, n))


def generate(trainer, state, batch: dict, key) -> tuple[np.ndarray, bool]:
  """(videos in [-1, 1] made for the clips of `batch`, whether they pair with those clips)."""
  if not trainer.evaluates_videos:
    raise UserError("evaluate covers the video models; the pose-VAE's forecast error is "
                    "benchmarks/pose_forecast.py")
  n = len(batch["video"])
  size = trainer.config.train.num_samples  # the batch size samples are drawn with in training
  sample = jax.jit(trainer.sample)
  out = []
  for i, part in enumerate(_batches(n, size)):
    chunk = {k: v[part] for k, v in batch.items()}
    if len(chunk["video"]) < size:  # pad to one compiled shape
      chunk = {k: np.concatenate([v, np.repeat(v[-1:], size - len(v), 0)]) for k, v in chunk.items()}
    inputs = trainer.sample_inputs(jax.random.fold_in(key, i), chunk)
    result = sample(state, inputs)
    video = result.get("refined", result["video"])
    out.append(np.asarray(video, np.float32)[:part.stop - part.start])
  return np.concatenate(out), trainer.paired


def _derangement(rng, n: int) -> np.ndarray:
  """A random order of n frames in which no frame keeps its place."""
  while True:
    order = rng.permutation(n)
    if n < 2 or not (order == np.arange(n)).any():
      return order


class Evaluator:
  def __init__(self, metrics):
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
      raise UserError(f"unknown metrics {unknown}; available: {', '.join(METRICS)}")
    self.metrics = list(metrics)
    self._fvd = self._extractor = None
    self._lpips = {}
    self._real_features = {}

  def fvd_features(self, videos):
    from jaxvid.metrics.fvd import I3DFeatures
    self._fvd = self._fvd or I3DFeatures()
    return self._fvd(videos)

  def row(self, generated, real, paired: bool, keypoints=None) -> dict:
    from jaxvid.metrics import fvd as fvd_lib
    from jaxvid.metrics import image
    out = {}
    if "fvd" in self.metrics:
      key = id(real)
      if key not in self._real_features:
        self._real_features[key] = self.fvd_features(real)
      from jaxvid.metrics.intervals import fvd_interval
      features = self.fvd_features(generated)
      out["fvd"] = fvd_lib.fvd(features, self._real_features[key])
      out["fvd_95"] = list(fvd_interval(features, self._real_features[key], paired=paired))
    flat = lambda v: v.reshape((-1,) + v.shape[2:])
    n = len(generated)

    def per_clip(name, per_frame):  # the mean, and a bootstrap 95 % interval over clips
      from jaxvid.metrics.intervals import bootstrap_mean_interval
      clips = np.asarray(per_frame, np.float64).reshape(n, -1).mean(1)
      out[name] = float(clips.mean())
      out[f"{name}_95"] = list(bootstrap_mean_interval(clips)) if n > 1 else [out[name]] * 2
    if paired and "ssim" in self.metrics:
      per_clip("ssim", image.ssim(flat(generated), flat(real)))
    if paired and "psnr" in self.metrics:
      per_clip("psnr", image.psnr(flat(generated), flat(real)))
    for metric, net in (("lpips", "alex"), ("lpips_vgg", "vgg")):
      if paired and metric in self.metrics:
        from jaxvid.metrics.lpips import LPIPS
        self._lpips[net] = self._lpips.get(net) or LPIPS(net)
        g, r = flat(generated), flat(real)
        per_clip(metric, np.concatenate([np.asarray(self._lpips[net](g[s], r[s]))
                                         for s in _batches(len(g), 64)]))
    if paired and "pose" in self.metrics and keypoints is not None:
      from jaxvid import visualize
      from jaxvid.metrics.pose_distance import pose_distance
      result = pose_distance(visualize.to_uint8(flat(generated)), flat(keypoints))
      out["pose_distance_px"] = result["distance"]
      out["pose_missed"] = result["missed"] / max(result["frames"], 1)
    return out


# StyleGAN-V's FVD protocol (Skorokhodov et al. 2022): 2,048 generated videos of 16 frames
# against 2,048 real clips of the dataset (here: its train split), no pairing.
STYLEGAN_V_VIDEOS, STYLEGAN_V_FRAMES = 2048, 16
PROTOCOLS = ("held_out", "stylegan_v")


def evaluate_stylegan_v(workdir: str, seed: int = 0, step: int | None = None) -> dict:
  """FVD by StyleGAN-V's protocol, for an unconditional model; a clear error where the model or
  the dataset cannot follow it (conditional models, other clip lengths, too few clips)."""
  from jaxvid.data import pipeline
  from jaxvid.trainers import get_trainer
  from jaxvid.metrics import fvd as fvd_lib
  from jaxvid.metrics.intervals import fvd_interval
  config = ckpt_lib.load_config(workdir)
  trainer = get_trainer(config)
  n, frames = STYLEGAN_V_VIDEOS, STYLEGAN_V_FRAMES
  if trainer.paired or not trainer.evaluates_videos:
    raise UserError("--protocol=stylegan_v is for unconditional video models; this one makes "
                    "videos for given clips: use the default held_out protocol")
  if config.data.frames != frames:
    raise UserError(f"--protocol=stylegan_v takes clips of {frames} frames; this model makes "
                    f"{config.data.frames}")
  train = pipeline.data_source(config, "train")
  if len(train) < n:
    raise UserError(f"--protocol=stylegan_v needs {n} real clips; the train split has "
                    f"{len(train)}")
  step, state = ckpt_lib.load_latest(trainer, workdir, step=step)
  to_model = pipeline.ToModel()
  index = np.random.default_rng(seed).choice(len(train), n, replace=False)
  real = np.stack([to_model.map(train[int(i)])["video"] for i in index])
  generated, _ = generate(trainer, state, {"video": real}, jax.random.key(seed))
  features = fvd_lib.I3DFeatures()
  f_gen, f_real = features(generated), features(real)
  row = {"fvd": fvd_lib.fvd(f_gen, f_real), "fvd_95": list(fvd_interval(f_gen, f_real, False))}
  return {"workdir": paths.resolve(workdir), "model": config.model, "step": int(step),
          "videos": n, "clip": list(real.shape[1:4]), "paired": False,
          "protocol": "stylegan_v", "rows": {f"{config.model} (step {step})": row}}


def evaluate(workdir: str, metrics, num_videos: int, baselines: bool, seed: int = 0,
             step: int | None = None) -> dict:
  from jaxvid.data import pipeline
  from jaxvid.trainers import get_trainer
  evaluator = Evaluator(metrics)  # unknown metrics: an error before any work
  config = ckpt_lib.load_config(workdir)
  trainer = get_trainer(config)
  held_out = len(pipeline.held_out_source(config))
  num_videos = num_videos or min(held_out, 256)
  if num_videos > held_out:
    raise UserError(f"--num_videos={num_videos}, but the held-out split has {held_out} clips: "
                    f"ask for at most {held_out} (clips are not repeated: a repeated clip "
                    f"would shrink FVD and narrow every interval), or build a larger test split")
  step, state = ckpt_lib.load_latest(trainer, workdir, step=step)
  batch = pipeline.make_sample_batch(config, num_videos)
  real = batch["video"]
  keypoints = batch.get("keypoints")
  key = jax.random.key(seed)
  generated, paired = generate(trainer, state, batch, key)
  rows = {f"{config.model} (step {step})": evaluator.row(generated, real, paired, keypoints)}
  if baselines:
    train = pipeline.data_source(config, "train")
    to_model = pipeline.ToModel()
    other = np.stack([to_model.map(train[i])["video"] for i in range(min(len(real), len(train)))])
    rows["real vs real (train clips)"] = evaluator.row(other, real, True)
    rng = np.random.default_rng(seed)
    shuffled = np.stack([v[_derangement(rng, len(v))] for v in real])
    rows["real vs temporally shuffled real"] = evaluator.row(shuffled, real, True, keypoints)
    still = np.broadcast_to(real[:, :1], real.shape)
    rows["real first frame repeated"] = evaluator.row(still, real, True, keypoints)
    if paired and keypoints is not None and len(real) > 1:
      # Each clip made from its own first frame and the next clip's poses.
      other_poses = dict(batch, keypoints=np.roll(batch["keypoints"], 1, axis=0))
      generated, _ = generate(trainer, state, other_poses, key)
      rows["another clip's poses"] = evaluator.row(generated, real, paired, keypoints)
    untrained = jax.jit(trainer.init_state)(jax.random.key(config.seed))
    untrained = trainer.warm_start(untrained)  # EDN stage 2: stage 1's G, an untrained face GAN
    generated, _ = generate(trainer, untrained, batch, key)
    rows["untrained model"] = evaluator.row(generated, real, paired, keypoints)
  return {"workdir": paths.resolve(workdir), "model": config.model, "step": int(step),
          "videos": int(len(real)), "clip": list(real.shape[1:4]), "paired": paired,
          "protocol": "held_out", "rows": rows}


def format_table(report: dict) -> str:
  columns = sorted({k for row in report["rows"].values() for k in row})
  what = ("videos vs as many train clips (StyleGAN-V protocol)"
          if report.get("protocol") == "stylegan_v" else "held-out clips")
  lines = [f"{report['model']} from {report['workdir']}: {report['videos']} {what} of "
           f"{'x'.join(map(str, report['clip']))}",
           f"{'':40s} " + " ".join(f"{c:>16s}" for c in columns)]
  for name, row in report["rows"].items():
    fmt = lambda x: f"{x:.1f}" if abs(x) >= 100 else f"{x:.3f}"
    cell = lambda v: (f"[{fmt(v[0])}, {fmt(v[1])}]" if isinstance(v, (list, tuple))
                      else f"{v:.4f}")
    lines.append(f"{name[:40]:40s} " + " ".join(
        f"{cell(row[c]):>16s}" if c in row else f"{'-':>16s}" for c in columns))
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  output = paths.resolve(FLAGS.output or paths.join(paths.resolve(FLAGS.workdir), "eval.json"))
  try:
    try:  # where the report goes is checked before the (long) evaluation, not after
      paths.Path(output).parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
      raise UserError(f"--output {output}: cannot create its folder ({e.strerror or e})") from e
    if FLAGS.num_videos < 0:
      raise UserError(f"--num_videos must be >= 0 (0: the whole test split), got "
                      f"{FLAGS.num_videos}")
    metrics = [m.strip() for m in FLAGS.metrics.split(",") if m.strip()]
    if FLAGS.protocol == "stylegan_v":
      if FLAGS.baselines or FLAGS.num_videos or metrics != ["fvd"]:
        raise UserError("--protocol=stylegan_v is FVD of 2,048 videos: give --metrics=fvd and "
                        "no --num_videos or --baselines")
      report = evaluate_stylegan_v(paths.resolve(FLAGS.workdir), FLAGS.seed, FLAGS.step)
    else:
      report = evaluate(paths.resolve(FLAGS.workdir), metrics, FLAGS.num_videos,
                        FLAGS.baselines, FLAGS.seed, FLAGS.step)
  except (UserError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  paths.Path(output).write_text(json.dumps(report, indent=2))
  print(format_table(report))
  print(f"wrote {output}")


if __name__ == "__main__":
  flags.DEFINE_string("workdir", None, "training workdir of a video model")
  flags.DEFINE_integer("step", None, "checkpoint step (default: the newest)")
  flags.DEFINE_string("metrics", "fvd,lpips,ssim,psnr", f"comma-separated, of {METRICS}")
  flags.DEFINE_integer("num_videos", 0, "held-out clips to evaluate (0: all of the test "
                       "split, at most 256); more than it has is an error")
  flags.DEFINE_bool("baselines", False, "add real/real, shuffled and untrained rows")
  flags.DEFINE_enum("protocol", "held_out", PROTOCOLS, "held_out: the test split (<= 256 clips) "
                    "vs as many generated; stylegan_v: FVD of 2,048 generated 16-frame videos vs "
                    "2,048 train clips (unconditional models)")
  flags.DEFINE_integer("seed", 0, "seed of the samples")
  flags.DEFINE_string("output", "", "JSON report (default: WORKDIR/eval.json)")
  flags.mark_flags_as_required(["workdir"])
  app.run(main)
