"""The pictures of the README and the model pages, made again from trained workdirs.

  python docs/make_figures.py vgan runs/vgan
  python docs/make_figures.py vgan_fvd runs/vgan runs/vgan_seed1 runs/vgan_one   # FVD by step
  python docs/make_figures.py pose_knows runs/pose_vae_branching runs/pose_gan
  python docs/make_figures.py pose_gan runs/pose_gan
  python docs/make_figures.py edn runs/edn_face
  python docs/make_figures.py edn_temporal runs/edn_frame runs/edn    # on detector-like poses
  python docs/make_figures.py dance runs/dance_preview/dancing_side_by_side.mp4   # jaxvid.dance

Each writes docs/images/<figure>.png (edn: everybody_dance_now.png; `--out` elsewhere): frames of held-out real clips beside
what the model makes for them, as still images (a PNG shows on GitHub and in any viewer; the
videos themselves are in the workdirs' samples/). Everything comes through `jaxvid.load`.
"""
from __future__ import annotations

import argparse
import os

import imageio.v3 as iio
import jax
import numpy as np

import jaxvid
from jaxvid import video_io, visualize
from jaxvid.data import pipeline
from jaxvid.inference import edn as edn_lib
from jaxvid.inference import pose_knows
from jaxvid.pixels import to_unit_range
from jaxvid.poses.render import render_skeleton

HERE = os.path.dirname(os.path.abspath(__file__))


def frames_of(video: np.ndarray, picks) -> list[np.ndarray]:
  """(T, H, W, 3) in [-1, 1] -> the picked frames as one-frame cells (1, H, W, 3)."""
  return [video[p:p + 1] for p in picks]


def save(grid: np.ndarray, path: str) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  iio.imwrite(path, grid[0])
  return path


def vgan_figure(workdir: str, out: str, n: int = 4, seed: int = 1) -> str:
  """Per row: a held-out real clip (frames 0, mid, last) | a sample (the same frames) | its
  background | its mask (mid frame) | its foreground (mid frame)."""
  model = jaxvid.load(workdir, expected="vgan")
  real = pipeline.make_sample_batch(model.config, n)["video"]
  out_ = model.generate(n, key=jax.random.key(seed), outputs=True, batch_size=max(
      n, int(model.config.train.num_samples)))
  t = real.shape[1]
  picks = (0, t // 2, t - 1)
  rows = []
  for i in range(n):
    mask = np.repeat(out_["mask"][i], 3, -1) * 2.0 - 1.0
    rows.append(frames_of(real[i], picks) + frames_of(out_["video"][i], picks)
                + [out_["background"][i]] + frames_of(mask, picks[1:2])
                + frames_of(out_["foreground"][i], picks[1:2]))
  labels = ([f"real t={p}" for p in picks] + [f"sample t={p}" for p in picks]
            + ["background", f"mask t={picks[1]}", f"fg t={picks[1]}"])
  scale = max(1, 64 // model.config.data.height)
  return save(visualize.tile(rows, scale=scale, labels=labels), out)


def pose_knows_figure(vae_dir: str, gan_dir: str, out: str, clips: int = 2, futures: int = 3,
                      seed: int = 0) -> str:
  """Per clip: the real continuation (first, middle, last frame) | for each sampled future its
  skeletons and the pose GAN's frames (the last frame)."""
  vae = jaxvid.load(vae_dir, expected="pose_vae")
  gan = jaxvid.load(gan_dir, expected="pose_gan")
  batch = pipeline.make_sample_batch(vae.config, clips)
  outputs = pose_knows.forecast_videos(vae, gan, batch["video"], batch["keypoints"],
                                       jax.random.key(seed), futures, pose_knows.Selection())
  gd = gan.config.data
  past = vae.config.pose_vae.past_steps * vae.trainer.frames_per_step  # X_t
  real = batch["video"][:, past:]
  if real.shape[2:4] != (gd.height, gd.width):
    real = np.asarray(jax.image.resize(real, real.shape[:2] + (gd.height, gd.width, 3),
                                       "bilinear"))
  last = min(real.shape[1], gd.frames) - 1
  rows = []
  for i in range(clips):
    row = frames_of(real[i], (0, last))
    for k in range(futures):
      row += frames_of(outputs["skeletons"][k, i], (last,)) + frames_of(
          outputs["videos"][k, i], (last,))
    rows.append(row)
  labels = ["real now", f"real +{last}"] + [f"{kind} {k + 1}" for k in range(futures)
                                            for kind in ("poses", "video")]
  return save(visualize.tile(rows, scale=max(1, 96 // gd.height), labels=labels), out)


def pose_gan_figure(workdir: str, out: str, n: int = 3, picks=(5, 10, 15)) -> str:
  """Per held-out clip: its first frame (G's input) | the real frames at `picks` | G's frames
  from the true poses | its mask (pose_gan.output='composite': white = painted by G)."""
  model = jaxvid.load(workdir, expected="pose_gan")
  batch = pipeline.make_sample_batch(model.config, n)
  outputs = jax.tree.map(np.asarray, model.jitted_trainer_sample(
      model.state, model.trainer.sample_inputs(jax.random.key(0), batch)))
  real = batch["video"]  # float32 in [-1, 1]
  rows = []
  for i in range(n):
    row = frames_of(real[i], (0,)) + frames_of(real[i], picks) + frames_of(outputs["video"][i],
                                                                           picks)
    rows.append(row + (frames_of(outputs["mask"][i], picks) if "mask" in outputs else []))
  labels = (["input t=0"] + [f"real t={p}" for p in picks] + [f"G t={p}" for p in picks]
            + ([f"mask t={p}" for p in picks] if "mask" in outputs else []))
  return save(visualize.tile(rows, scale=max(1, 96 // model.config.data.height), labels=labels),
              out)


def edn_figure(workdir: str, out: str, source: str = "dancer:2", frames: int = 24,
               picks=(0, 8, 16, 23)) -> str:
  """Per picked frame: the source | its pose | the pose normalised into the target's frame |
  the output."""
  model = jaxvid.load(workdir, expected="edn")
  d = model.config.data
  src = edn_lib.load_source(source, (d.height, d.width), frames)
  poses = model.to_target_frame(src)
  result = model.generate_frames(poses)
  source_frames = to_unit_range(np.stack([video_io.fit_frame(f, d.height, d.width)
                                          for f in src.video]))
  source_pose = to_unit_range(render_skeleton(src.keypoints, d.height, d.width))
  rows = [[source_frames[p:p + 1], source_pose[p:p + 1], result["skeletons"][p:p + 1],
           result["video"][p:p + 1]] for p in picks]
  labels = ["source", "source pose", "normalised", "output"]
  return save(visualize.tile(rows, scale=max(1, 96 // d.height), labels=labels), out)


def edn_temporal_figure(frame_dir: str, temporal_dir: str, out: str, start: int = 4,
                        count: int = 6, clip_index: int = 0) -> str:
  """Consecutive held-out frames, one row each: real | detector-like poses (a draw of the noise
  model the edn suite's --pose_noise=mediapipe_dancer_64 uses) | frame-by-frame from them |
  temporal from them | temporal from them smoothed (normalize.median_smooth, as transfer)."""
  from jaxvid.poses import detector_noise, normalize
  models = [jaxvid.load(w, expected="edn") for w in (frame_dir, temporal_dir)]
  clip = pipeline.data_source(models[0].config, "test")[clip_index]
  d = models[0].config.data
  noisy = detector_noise.apply(clip["keypoints"], detector_noise.MEDIAPIPE_DANCER_64,
                               np.random.default_rng([0, 1]))
  smoothed = normalize.median_smooth(noisy)
  picks = range(start, start + count)
  rows = [frames_of(to_unit_range(clip["video"]), picks),
          frames_of(to_unit_range(render_skeleton(noisy, d.height, d.width)), picks)]
  for model, poses in ((models[0], noisy), (models[1], noisy), (models[1], smoothed)):
    rows.append(frames_of(model.generate_frames(poses)["video"], picks))
  labels = [f"t={t}" for t in picks]
  return save(visualize.tile(rows, scale=max(1, 96 // d.height), labels=labels), out)


def dance_figure(side_by_side: str, out: str, picks=(70, 110, 140, 190)) -> str:
  """Frames of `python -m jaxvid.dance`'s side-by-side video (source | source pose |
  normalised pose | output), stacked: what the one command made of two real videos."""
  frames = list(video_io.iter_frames(side_by_side))
  picks = [p for p in picks if p < len(frames)] or [len(frames) // 2]
  scale = max(1, 800 // frames[0].shape[1])  # a small preview frame drawn larger
  rows = [frames[p].repeat(scale, 0).repeat(scale, 1) for p in picks]
  gap = np.full((4,) + rows[0].shape[1:], 255, np.uint8)
  grid = np.concatenate([np.concatenate([r, gap]) for r in rows])[:-4]
  return save(grid[None], out)


def fvd_reports(workdir: str) -> tuple[dict, dict]:
  """A VGAN workdir's `evaluate` reports of the video suite with FVD: step -> (FVD, low, high)
  of the model, and baseline row -> (FVD, low, high) from any report with --baselines."""
  import glob
  import json
  model, baselines = {}, {}
  for path in glob.glob(os.path.join(workdir, "eval", "video-step*-*fvd*.json")):
    with open(path) as f:
      report = json.load(f)
    for name, row in report["rows"].items():
      value = (row["fvd"], *row["fvd_95"])
      if name.startswith(f"{report['model']} (step"):
        model[int(report["step"])] = value
      else:
        baselines.setdefault(name, value)
  return model, baselines


def vgan_fvd_figure(*workdirs: str, out: str) -> str:
  """FVD (95 % interval) of each run's checkpoints against the training step, with the
  baselines of the first run's report as horizontal lines. Runs are named by their folder."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
  baselines = {}
  for workdir in workdirs:
    model, rows = fvd_reports(workdir)
    baselines = baselines or rows
    steps = sorted(model)
    values = np.array([model[s] for s in steps])
    if not len(steps):
      continue
    line, = ax.plot(steps, values[:, 0], "o-", label=os.path.basename(os.path.normpath(workdir)))
    ax.fill_between(steps, values[:, 1], values[:, 2], color=line.get_color(), alpha=0.15)
  styles = {"real first frame repeated": ("k", "--"), "untrained model": ("grey", ":"),
            "real vs temporally shuffled real": ("tab:green", "-."),
            "real vs real (train clips)": ("tab:olive", "-.")}
  for name, (value, low, high) in baselines.items():
    colour, style = styles.get(name, ("tab:brown", "--"))
    ax.axhline(value, color=colour, linestyle=style, linewidth=1)
    ax.text(ax.get_xlim()[0], value, f" {name} {value:.0f}", va="bottom", fontsize=7,
            color=colour)
  ax.set_xlabel("training step")
  ax.set_ylabel("FVD on 256 held-out clips (lower is better)")
  ax.legend(fontsize=8, loc="upper right")
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  fig.savefig(out)
  plt.close(fig)
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("figure", choices=["vgan", "vgan_fvd", "pose_knows", "pose_gan", "edn",
                                         "edn_temporal", "dance"])
  parser.add_argument("workdirs", nargs="+")
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  name = {"edn": "everybody_dance_now"}.get(args.figure, args.figure)
  out = args.out or os.path.join(HERE, "images", f"{name}.png")
  make = {"vgan": vgan_figure, "vgan_fvd": vgan_fvd_figure, "pose_knows": pose_knows_figure,
          "pose_gan": pose_gan_figure, "edn": edn_figure,
          "edn_temporal": edn_temporal_figure, "dance": dance_figure}[args.figure]
  print(f"wrote {make(*args.workdirs, out=out)}")


if __name__ == "__main__":
  main()
