"""Suite 'vgan_streams': does a trained VGAN separate the scene the way the paper says? Mask
and checkerboard measures.

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
  nearest training clip   RMS pixel distance from each clip to the nearest of the training
                         clips; generated (batch statistics of 64) against held-out real
                         clips: a model that copies its training data is nearer than they are
Each row is computed for three ways of sampling: BatchNorm with the statistics of a batch of 4
(the training figure's size), of a batch of 64, and with the running averages (`generate.lua`).
Each value is a mean over clips with a bootstrap 95 % interval over clips. With FVD on (the
default; --nofvd skips it), FVD against the held-out clips of the generated videos and of the
background stream alone repeated over time: which stream holds the model back.
"""
from __future__ import annotations

import jax
import numpy as np
from scipy.stats import rankdata

from jaxvid.data import pipeline, synthetic_scenes
from jaxvid.errors import UserError
from jaxvid.evaluators import common

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
  """metric -> (N,) per clip  ->  metric -> {mean, low, high, n} (NaN clips left out)."""
  out = {}
  for name, v in values.items():
    row = common.mean_row(name, v, seed)
    out[name] = {"mean": row[name], "low": row[f"{name}_95"][0], "high": row[f"{name}_95"][1],
                 "n": int(np.isfinite(np.asarray(v, np.float64)).sum())}
  return out


def real_reference(config, num: int) -> dict:
  """Held-out synthetic_scenes clips with their true sprite masks."""
  c = pipeline.prepare(config.data).builder_config
  clips = [synthetic_scenes.render_clip(c.seed, c.num_train + i, c.frames, c.height, c.width,
                                        c.max_sprites, with_mask=True, stripes=c.stripes)
           for i in range(num)]
  video = synthetic_scenes.to_model_range(np.stack([v for v, _ in clips]))
  return per_clip(video, np.stack([m for _, m in clips]), None)


def nearest_distances(clips: np.ndarray, train: np.ndarray, chunk: int = 512) -> np.ndarray:
  """(N, ...) and (M, ...) clips in [-1, 1] -> (N,) RMS pixel distance of each clip to its
  nearest training clip: |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, one matrix product per chunk."""
  a = clips.reshape(len(clips), -1).astype(np.float32)
  a_sq = np.einsum("ij,ij->i", a, a)
  best = np.full(len(a), np.inf, np.float32)
  for start in range(0, len(train), chunk):
    b = np.asarray(train[start:start + chunk], np.float32).reshape(-1, a.shape[1])
    d = a_sq[:, None] + np.einsum("ij,ij->i", b, b)[None] - 2.0 * a @ b.T
    best = np.minimum(best, d.min(1))
  return np.sqrt(np.maximum(best, 0.0) / a.shape[1])


def training_clips(config) -> np.ndarray:
  """The training split's clips, uint8 (M, T, H, W, 3)."""
  source = pipeline.data_source(config, "train")
  return np.stack([np.asarray(source[i]["video"]) for i in range(len(source))])


def stream_fvd(model, num: int, features: common.Features, seed: int = 0) -> dict:
  """FVD (with its 95 % interval) of the videos and of the background stream alone."""
  real = pipeline.make_sample_batch(model.config, num, held_out_only=True)["video"]
  out = model.generate(num, key=jax.random.key(seed), outputs=True)
  real_features = features.i3d(real, "real clips", shared=True)
  rows = {}
  for name, videos in (("generated", out["video"]),
                       ("background stream only",
                        np.broadcast_to(out["background"], out["video"].shape))):
    row = common.fvd_row(features.i3d(videos, name), real_features, paired=False)
    rows[name] = {"fvd": row["fvd"], "low": row["fvd_95"][0], "high": row["fvd_95"][1]}
  return rows


def check(model, options: common.Options) -> None:
  if model.kind != "vgan" or model.conditional:
    raise UserError("suite vgan_streams measures an unconditional VGAN")
  if model.config.vgan.get("streams", "two") != "two":
    raise UserError("suite vgan_streams measures the two streams; this is the one-stream "
                    "baseline (no mask, no background): its suite is video")
  if model.config.data.name != "synthetic_scenes":
    raise UserError(f"suite vgan_streams needs a VGAN trained on synthetic_scenes (its true "
                    f"sprite masks); this one was trained on {model.config.data.name!r}")
  num_test = pipeline.prepare(model.config.data).builder_config.num_test
  if options.num_videos > num_test:
    raise UserError(f"--num_videos={options.num_videos} but the test split has {num_test} clips")


def run(models, options: common.Options, features: common.Features, load=None) -> dict:
  (model,) = models
  check(model, options)
  num = options.num_videos or min(256, pipeline.prepare(model.config.data).builder_config.num_test)
  seed = options.seed
  rows = {"real clips, true sprite mask": summarise(real_reference(model.config, num), seed)}
  modes = {"batch statistics of 4": dict(batch_size=4), "batch statistics of 64":
           dict(batch_size=64), "running averages": dict(batch_size=64, running_stats=True)}
  for name, kwargs in modes.items():
    out = model.generate(num, key=jax.random.key(seed), outputs=True, **kwargs)
    rows[name] = summarise(per_clip(out["video"], out["mask"][..., 0], out["foreground"],
                                    out["background"]), seed)
    if name == "batch statistics of 64":
      generated = out["video"]
  report = {"model": model.kind, "step": model.step, "clips": num, "rows": rows}
  train = synthetic_scenes.to_model_range(training_clips(model.config))
  held_out = pipeline.make_sample_batch(model.config, num, held_out_only=True)["video"]
  report["nearest training clip"] = {
      name: summarise({"distance": nearest_distances(clips, train)}, seed)["distance"]
      for name, clips in (("generated", generated), ("held-out real", held_out))}
  if options.fvd:
    report["fvd"] = stream_fvd(model, num, features, seed)
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
  for name, row in report.get("nearest training clip", {}).items():
    lines.append(f"  nearest training clip, {name}: RMS {row['mean']:.3f} "
                 f"[{row['low']:.3f}, {row['high']:.3f}]")
  for name, row in report.get("fvd", {}).items():
    lines.append(f"  FVD, {name}: {row['fvd']:.1f} [{row['low']:.1f}, {row['high']:.1f}]")
  return "\n".join(lines)
