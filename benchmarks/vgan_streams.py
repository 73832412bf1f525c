"""Does a trained VGAN separate the scene the way the paper says? Mask and checkerboard measures.

  python benchmarks/vgan_streams.py --workdir=runs/vgan [--num=256] [--json]

For an unconditional VGAN trained on `synthetic_scenes` (the scene's true sprite masks are known
there). Generated clips carry no true mask, so the mask is judged against what moves in the clip
itself, and the same measure is computed on held-out real clips with their *true* sprite masks,
for reference (a mask equal to 0.5 everywhere scores AUC 0.5; the true mask scores below 1
because a sprite's inside hardly changes from frame to frame, so it counts as "not moving"):
  mask mean              mean of m over all voxels (real: the sprites' true coverage)
  mask AUC on motion     ROC AUC of m(t, x) for telling "moving" pixels (|v_t - v_t-1| summed
                         over colour > 0.1, frames 1..T-1) from the rest
  mask where static      mean of m over pixels that never change in the clip (should be ~0)
  checkerboard f, m>0.5  mean |f[i,j] - f[i+1,j] - f[i,j+1] + f[i+1,j+1]| / 4 (the response of
  checkerboard f, m<0.1  the 2x2 checker filter) of the foreground stream inside / outside the
                         mask, of the background and of the composite video (real clips: ~0.01)
Each row is computed for three ways of sampling: BatchNorm with the statistics of a batch of 4
(the training figure's size), of a batch of 64, and with the running averages (`generate.lua`).
Each value is a mean over clips with a bootstrap 95 % interval over clips.
`--fvd` adds FVD against the held-out clips (I3D, ~5 min for 256 clips on 2 cores) of the
generated videos and of the background stream alone repeated over time: which stream holds the
model back.
"""
from __future__ import annotations

import json
import sys

import numpy as np
from absl import app, flags

MOTION_THRESHOLD = 0.1  # in [-1, 1] units, summed over colour: a change of ~5 grey levels


def checker_response(frames: np.ndarray) -> np.ndarray:
  """(..., H, W, C) -> (..., H-1, W-1): the 2x2 checkerboard filter's |response|, colour mean."""
  r = frames[..., :-1, :-1, :] - frames[..., 1:, :-1, :] - frames[..., :-1, 1:, :] \
      + frames[..., 1:, 1:, :]
  return np.abs(r).mean(-1) / 4


def moving_pixels(video: np.ndarray) -> np.ndarray:
  """(N, T, H, W, C) in [-1, 1] -> (N, T-1, H, W) bool: the pixel changed since frame t-1."""
  return np.abs(np.diff(video, axis=1)).sum(-1) > MOTION_THRESHOLD


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
  """Area under the ROC curve (Mann-Whitney U with tied ranks averaged); nan without both."""
  from scipy.stats import rankdata
  scores, labels = scores.ravel(), labels.ravel().astype(bool)
  pos, neg = labels.sum(), (~labels).sum()
  if pos == 0 or neg == 0:
    return float("nan")
  ranks = rankdata(scores)
  return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def per_clip(video: np.ndarray, mask: np.ndarray, foreground: np.ndarray | None,
             background: np.ndarray | None = None) -> dict:
  """video (N, T, H, W, 3) in [-1, 1], mask (N, T, H, W) in [0, 1] (and the streams, if the
  video is generated) -> metric -> (N,)."""
  moving = moving_pixels(video)
  static = ~moving.any(1)  # (N, H, W): never changes
  out = {"mask mean": mask.mean((1, 2, 3)),
         "mask AUC on motion": np.array([roc_auc(m[1:], mv) for m, mv in zip(mask, moving)]),
         "mask where static": np.array([m[:, s].mean() if s.any() else np.nan
                                        for m, s in zip(mask, static)]),
         "checkerboard video": checker_response(video).mean((1, 2, 3))}
  if background is not None:
    out["checkerboard background"] = checker_response(background).mean((1, 2, 3))
  if foreground is not None:
    checker = checker_response(foreground)
    m = mask[..., :-1, :-1]  # the filter's top-left corner
    for name, region in (("m>0.5", m > 0.5), ("m<0.1", m < 0.1)):
      out[f"checkerboard f, {name}"] = np.array(
          [c[r].mean() if r.any() else np.nan for c, r in zip(checker, region)])
  return out


def summarise(values: dict, seed: int = 0) -> dict:
  from jaxvid.metrics.intervals import bootstrap_mean_interval
  out = {}
  for name, v in values.items():
    v = v[np.isfinite(v)]
    low, high = bootstrap_mean_interval(v, seed=seed)
    out[name] = {"mean": float(v.mean()), "low": float(low), "high": float(high), "n": int(v.size)}
  return out


def real_reference(config, num: int) -> dict:
  """Held-out synthetic_scenes clips with their true sprite masks."""
  from jaxvid.data import pipeline, synthetic_scenes
  if config.data.name != "synthetic_scenes":
    raise SystemExit(f"error: {config.data.name!r} has no true masks; this benchmark needs a "
                     f"VGAN trained on synthetic_scenes")
  c = pipeline.prepare(config.data).builder_config
  if num > c.num_test:
    raise SystemExit(f"error: --num={num} but the test split has {c.num_test} clips")
  clips = [synthetic_scenes.render_clip(c.seed, c.num_train + i, c.frames, c.height, c.width,
                                        c.max_sprites, with_mask=True) for i in range(num)]
  video = synthetic_scenes.to_model_range(np.stack([v for v, _ in clips]))
  return per_clip(video, np.stack([m for _, m in clips]), None)


def stream_fvd(model, num: int, seed: int = 0) -> dict:
  """FVD (with its 95 % interval) of the videos and of the background stream alone."""
  import jax
  from jaxvid.data import pipeline
  from jaxvid.metrics import fvd as fvd_lib
  from jaxvid.metrics.intervals import fvd_interval
  real = pipeline.make_sample_batch(model.config, num)["video"]
  out = model.generate(num, key=jax.random.key(seed), outputs=True)
  features = fvd_lib.I3DFeatures()
  real_features = features(real)
  rows = {}
  for name, videos in (("generated", out["video"]), ("background stream only",
                                                      np.broadcast_to(out["background"],
                                                                      out["video"].shape))):
    f = features(videos)
    low, high = fvd_interval(f, real_features, paired=False)
    rows[name] = {"fvd": fvd_lib.fvd(f, real_features), "low": low, "high": high}
  return rows


def measure(workdir: str, num: int, seed: int = 0, with_fvd: bool = False) -> dict:
  import jax
  import jaxvid
  model = jaxvid.load(workdir, expected="vgan")
  if model.conditional:
    raise SystemExit("error: this benchmark measures an unconditional VGAN")
  rows = {"real clips, true sprite mask": summarise(real_reference(model.config, num), seed)}
  modes = {"batch statistics of 4": dict(batch_size=4), "batch statistics of 64":
           dict(batch_size=64), "running averages": dict(batch_size=64, running_stats=True)}
  for name, kwargs in modes.items():
    out = model.generate(num, key=jax.random.key(seed), outputs=True, **kwargs)
    rows[name] = summarise(per_clip(out["video"], out["mask"][..., 0], out["foreground"],
                                    out["background"]), seed)
  report = {"workdir": workdir, "step": model.step, "clips": num, "rows": rows}
  if with_fvd:
    report["fvd"] = stream_fvd(model, num, seed)
  return report


def format_table(report: dict) -> str:
  columns = list(dict.fromkeys(c for row in report["rows"].values() for c in row))
  lines = [f"VGAN streams, {report['workdir']} step {report['step']}, {report['clips']} clips "
           f"(mean [95 % interval over clips])"]
  for name, row in report["rows"].items():
    lines.append(f"  {name}")
    for col in columns:
      if col in row:
        m, lo, hi = row[col]["mean"], row[col]["low"], row[col]["high"]
        lines.append(f"    {col:24s} {m:7.3f} [{lo:.3f}, {hi:.3f}]")
  for name, row in report.get("fvd", {}).items():
    lines.append(f"  FVD, {name}: {row['fvd']:.1f} [{row['low']:.1f}, {row['high']:.1f}]")
  return "\n".join(lines)


def main(argv):
  del argv
  f = flags.FLAGS
  report = measure(f.workdir, f.num, f.seed, f.fvd)
  print(json.dumps(report) if f.json else format_table(report))


if __name__ == "__main__":
  flags.DEFINE_string("workdir", None, "a VGAN workdir trained on synthetic_scenes", required=True)
  flags.DEFINE_integer("num", 256, "clips generated and real clips compared")
  flags.DEFINE_integer("seed", 0, "sampling and bootstrap seed")
  flags.DEFINE_bool("json", False, "print one JSON object")
  flags.DEFINE_bool("fvd", False, "add FVD of the videos and of the background stream alone")
  sys.exit(app.run(main))
