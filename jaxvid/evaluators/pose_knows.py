"""Suite 'pose_knows': the whole pipeline (past -> pose-VAE futures -> pose GAN video) against a
video GAN that sees only the first frame, the paper's comparison, and the first frame repeated.

  python -m jaxvid.evaluate --suite=pose_knows \
      --workdir=runs/pose_vae,runs/pose_gan[,runs/vgan_cond_dancer]

Held-out clips of the pose-VAE's dataset: its past, the present X_t (frame past_steps x
frames_per_step) and the true future after it, as many frames as the pose GAN's clip. Rows:

  pipeline, best of k     per clip and metric, the best of the k futures `jaxvid.forecast`
                          shows (the code's k-means selection; --futures = k, default 5)
  pipeline, mean over k   per clip, the mean over the k futures
  pose GAN, true poses    G(X_t, S_T) with the true future poses: a perfect forecaster
  conditional VGAN        a vgan workdir trained with vgan.conditional: G(X_t)
  first frame repeated    X_t held over the clip

Metrics over frames 1..T-1 (frame 0 is X_t, given): L1, PSNR, SSIM, LPIPS (VGG) on the whole
frame and on the body crop (a fixed window centred on each frame's true pose, the side 1.1 x the
largest body box of the clips, as the edn suite), each the mean over clips with a bootstrap 95 %
interval; FVD (I3D, whole clips) with its interval -- for "best of k" the future of each clip
with the best body LPIPS, for "mean over k" all k x clips against the real clips repeated.
A forecaster of several futures is judged on the one closest to what happened (best of k);
the mean says what a future drawn blindly gives. Videos of another size than the pose GAN's
(the conditional VGAN's) are resized to it, bilinearly.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxvid.data import pipeline
from jaxvid.errors import UserError
from jaxvid.evaluators import common
from jaxvid.evaluators.edn import body_crop_size
from jaxvid.inference import pose_knows
from jaxvid.metrics import image
from jaxvid.metrics.intervals import bootstrap_mean_interval
from jaxvid.pixels import to_unit_range
from jaxvid.poses.keypoints import confident_bounds
from jaxvid.trainers.edn import crop_faces

METRICS = ("L1", "PSNR", "SSIM", "LPIPS", "body L1", "body PSNR", "body SSIM", "body LPIPS")
LOWER_IS_BETTER = {"L1", "LPIPS", "body L1", "body LPIPS"}
_BATCH = 16  # clips per forecast call


def _models(models) -> dict:
  by_kind = {}
  for m in models:
    if m.kind in by_kind:
      raise UserError(f"suite pose_knows takes one workdir of each kind; two {m.kind!r}")
    by_kind[m.kind] = m
  if not {"pose_vae", "pose_gan"} <= set(by_kind):
    raise UserError("suite pose_knows needs a pose_vae and a pose_gan workdir "
                    "(--workdir=VAE,GAN[,CONDITIONAL_VGAN])")
  if "vgan" in by_kind and not by_kind["vgan"].conditional:
    raise UserError(f"{by_kind['vgan'].workdir}: the VGAN to compare must be conditional "
                    f"(configs/vgan_cond.py)")
  return by_kind


def _resized(video: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  if video.shape[-3:-1] == size:
    return video
  shape = video.shape[:-3] + size + (3,)
  return np.asarray(jax.image.resize(jnp.asarray(video), shape, "bilinear"))


def body_crop(keypoints: np.ndarray, height: int, width: int):
  """(crop, side): crop(frames) cuts the edn suite's fixed-size window around each frame's true
  pose, for frames 1..T-1 of clips whose keypoints (N, T, 18, 3) are given, flattened in that
  order (as clip_metrics passes them); side = 1.1 x the largest body box, at most the frame."""
  keypoints = keypoints[:, 1:].reshape(-1, 18, 3)
  side = body_crop_size(keypoints, height, width)
  boxes = confident_bounds(keypoints)
  boxes = np.where(np.isfinite(boxes), boxes, np.array([0, 0, width, height], np.float32))

  def crop(frames):
    return np.asarray(crop_faces(jnp.asarray(frames), jnp.asarray(boxes), side)[0])
  return crop, side


def clip_metrics(video: np.ndarray, real: np.ndarray, crop, lpips) -> dict[str, np.ndarray]:
  """video, real (N, T, H, W, 3) in [-1, 1], frames 1..T-1 compared -> metric -> (N,)."""
  n, t = video.shape[0], video.shape[1] - 1
  a, b = video[:, 1:].reshape((-1,) + video.shape[2:]), real[:, 1:].reshape((-1,) + real.shape[2:])
  out = {}
  for prefix, (x, y) in (("", (a, b)), ("body ", (crop(a), crop(b)))):
    per_frame = {"L1": np.abs(x - y).mean((1, 2, 3)), "PSNR": image.psnr(x, y),
                 "SSIM": image.ssim(x, y), "LPIPS": common.per_frame_lpips(lpips, x, y)}
    for name, values in per_frame.items():
      out[prefix + name] = np.asarray(values, np.float64).reshape(n, t).mean(1)
  return out


def run(models, options: common.Options, features: common.Features, load=None) -> dict:
  by_kind = _models(models)
  vae, gan = by_kind["pose_vae"], by_kind["pose_gan"]
  k = options.futures
  if k < 1:
    raise UserError(f"--futures (futures per clip) must be >= 1, got {k}")
  gd, vd = gan.config.data, vae.config.data
  present = vae.config.pose_vae.past_steps * vae.trainer.frames_per_step
  if present + gd.frames > vd.frames:
    raise UserError(f"the pose-VAE's clips ({vd.frames} frames) hold {vd.frames - present} "
                    f"frames from the present; the pose GAN's clip needs {gd.frames}")
  pose_knows.rollout_steps(vae, gd.frames - 1)  # the horizon, before any work
  cond = by_kind.get("vgan")
  if cond is not None and cond.config.data.frames < gd.frames:
    raise UserError(f"the conditional VGAN makes {cond.config.data.frames} frames; the "
                    f"comparison needs {gd.frames}")
  if options.num_videos < 0:
    raise UserError(f"--num_videos must be >= 0, got {options.num_videos}")
  vae_data = common.held_out_config(vae.config, options.num_test)
  available = len(pipeline.test_source(vae_data))
  num = options.num_videos or min(available, 256)
  if num > available:
    raise UserError(f"--num_videos={num}, but the pose-VAE's test split has {available} clips")
  batch = pipeline.make_sample_batch(vae_data, num, held_out_only=True)
  size = (gd.height, gd.width)
  real = _resized(batch["video"][:, present:present + gd.frames], size)
  scale = np.array([gd.width / vd.width, gd.height / vd.height, 1.0], np.float32)
  true_poses = batch["keypoints"][:, present:present + gd.frames] * scale

  futures, shares = [], []
  for i in range(0, num, _BATCH):
    part = slice(i, min(i + _BATCH, num))
    out = pose_knows.forecast_videos(vae, gan, batch["video"][part], batch["keypoints"][part],
                                     jax.random.fold_in(jax.random.key(options.seed), i), k,
                                     pose_knows.Selection())
    futures.append(out["videos"])
    shares.append(out["shares"])
    if options.progress:
      print(f"  forecast {part.stop}/{num} clips", flush=True)
  futures = np.concatenate(futures, 1)  # (k, N, T, H, W, 3)
  candidates = {
      "pose GAN, true poses": to_unit_range(gan.render(real[:, 0], true_poses,
                                                        jax.random.key(options.seed))),
      "first frame repeated": np.broadcast_to(real[:, :1], real.shape)}
  if cond is not None:
    cd = cond.config.data
    frames = _resized(real[:, 0], (cd.height, cd.width))
    predicted = to_unit_range(cond.predict(frames)[:, :gd.frames])
    candidates[f"conditional VGAN (step {cond.step})"] = _resized(predicted, size)

  crop, side = body_crop(true_poses, gd.height, gd.width)
  lpips = common.lpips_net({}, "vgg")
  def metrics(video, what):  # the slow part (LPIPS of every frame, twice): say which
    if options.progress:
      print(f"  metrics (L1, PSNR, SSIM, LPIPS; whole and body) of {what}", flush=True)
    return clip_metrics(video, real, crop, lpips)

  per_future = [metrics(f, f"future {i + 1}/{k}") for i, f in enumerate(futures)]
  per_clip = {}
  per_clip[f"pipeline, best of {k}"] = {
      m: (np.min if m in LOWER_IS_BETTER else np.max)([p[m] for p in per_future], axis=0)
      for m in METRICS}
  per_clip[f"pipeline, mean over {k}"] = {m: np.mean([p[m] for p in per_future], axis=0)
                                          for m in METRICS}
  for name, video in candidates.items():
    per_clip[name] = metrics(video, name)

  rows = {}
  for name, values in per_clip.items():
    rows[name] = {}
    for m in METRICS:
      rows[name][m] = float(values[m].mean())
      rows[name][m + "_95"] = bootstrap_mean_interval(values[m], seed=options.seed)
  if options.fvd:
    real_features = features.i3d(real, "real future clips")
    best = np.argmin([p["body LPIPS"] for p in per_future], axis=0)  # (N,)
    videos = {f"pipeline, best of {k}": futures[best, np.arange(num)],
              f"pipeline, mean over {k}": futures.reshape((-1,) + futures.shape[2:]), **candidates}
    for name, video in videos.items():
      reference = real_features if len(video) == num else np.tile(real_features, (k, 1))
      fvd = common.fvd_row(features.i3d(video, name), reference, paired=True)
      rows[name].update({"FVD": fvd["fvd"], "FVD_95": fvd["fvd_95"]})
  return {"model": "pose_knows", "clips": num, "futures": k, "body_crop": side,
          "frames": int(gd.frames), "present_frame": present,
          "steps": {kind: int(m.step) for kind, m in by_kind.items()},
          "mean_biggest_cluster_share": float(np.concatenate(shares, 1)[0].mean()),
          "rows": rows}


def format_table(report: dict) -> str:
  lines = [f"The Pose Knows, {report['clips']} held-out clips, {report['frames']} frames from "
           f"X_t (frame {report['present_frame']}), {report['futures']} futures a clip; body "
           f"crop {report['body_crop']} px; mean [bootstrap 95 % interval]"]
  metrics = [m for m in METRICS + ("FVD",) if m in next(iter(report["rows"].values()))]
  for name, r in report["rows"].items():
    cells = [f"{m} {r[m]:.4g} [{r[m + '_95'][0]:.4g}, {r[m + '_95'][1]:.4g}]" for m in metrics]
    lines.append(f"  {name:28s} " + "  ".join(cells))
  return "\n".join(lines)
