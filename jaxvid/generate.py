"""Sample a trained VGAN: videos as files, for people and for external FVD tools.

  python -m jaxvid.generate --workdir=runs/vgan --num=64 --output=runs/vgan_samples
  python -m jaxvid.generate --workdir=runs/vgan_cond --image=photo.png --output=runs/future

Writes into --output (a folder; files already there are never overwritten: another folder or
--overwrite): video_0000.mp4 ... one per video, grid.gif (the first 16 as background |
foreground | mask | video rows), videos.npz (`videos` uint8 (N, T, H, W, 3)). --image gives the
conditional model its first frame(s) (comma-separated files, any size: scaled to cover the
model's frame and centre-cropped). --running_stats samples with BatchNorm's running averages
(the authors' generate.lua) instead of the batch's statistics.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from absl import app, flags

import jaxvid
from jaxvid import errors, paths, progress, video_io, visualize
from jaxvid.errors import UserError

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("workdir", None, "workdir of a trained vgan model")
  flags.DEFINE_integer("step", None, "checkpoint step (default: the newest)")
  flags.DEFINE_integer("num", 16, "videos to generate (unconditional)")
  flags.DEFINE_string("output", None, "output folder")
  flags.DEFINE_string("image", "", "first frame(s) for a conditional model: PNG/JPEG files, "
                      "comma-separated")
  flags.DEFINE_integer("seed", 0, "random seed of z")
  flags.DEFINE_bool("running_stats", False, "BatchNorm with running averages (generate.lua)")
  flags.DEFINE_bool("overwrite", False, "replace files of an earlier run in --output")
  flags.DEFINE_integer("fps", 8, "frames per second of the mp4s and the GIF")
  flags.DEFINE_bool("progress", True, "show a progress bar (one line per stage off a terminal)")
  flags.mark_flags_as_required(["workdir", "output"])


def read_images(paths: list[str], height: int, width: int) -> np.ndarray:

  frames = []
  for path in paths:
    try:
      frame = video_io.read_image(path)  # upright (EXIF), 16-bit greys scaled
    except video_io.VideoReadError as e:
      raise UserError(f"--image {e}") from e
    frames.append(video_io.resize_center_crop_frame(frame, height, width))
  return np.stack(frames)


MAX_VIDEOS = 1_000_000  # --num: FVD protocols use 2,048 to 10,000


def existing_outputs(output: str, n: int) -> list[str]:
  """The files of --output this run would write over: video_0000.mp4 .. video_<n-1>.mp4,
  grid.gif, videos.npz (from the folder's listing: n may be large)."""
  if not os.path.isdir(output):
    return []
  clash = []
  for name in sorted(os.listdir(output)):
    stem = name.removeprefix("video_").removesuffix(".mp4")
    if name in ("grid.gif", "videos.npz") or (
        name.startswith("video_") and name.endswith(".mp4") and stem.isdigit()
        and int(stem) < n and name == f"video_{int(stem):04d}.mp4"):
      clash.append(os.path.join(output, name))
  return clash


def _finish(output: str, raw, raw_path: str, kept: list, done: int, d) -> None:
  """grid.gif of the first 16 videos and videos.npz of the `done` made, from the memmap."""
  out = {k: np.concatenate([p[k] for p in kept]) for k in kept[0]}
  frames = out["video"].shape[1]
  if "mask" in out:
    rows = [[np.repeat(out["background"][i], frames, 0), out["foreground"][i],
             np.repeat(out["mask"][i], 3, -1) * 2.0 - 1.0, out["video"][i]]  # mask [0, 1] shown
            for i in range(min(16, done))]
    labels = ["background", "foreground", "mask", "video"]
  else:  # the one-stream baseline has no streams to show
    rows, labels = [[out["video"][i]] for i in range(min(16, done))], ["video (one stream)"]
  visualize.write_video(os.path.join(output, "grid.gif"),
                        visualize.tile(rows, scale=max(1, 64 // d.height), labels=labels),
                        fps=FLAGS.fps)
  raw.flush()
  np.savez(os.path.join(output, "videos.partial.npz"), videos=raw[:done])  # streamed from disk
  os.replace(os.path.join(output, "videos.partial.npz"), os.path.join(output, "videos.npz"))
  os.remove(raw_path)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")

  if not FLAGS.output:
    raise UserError("--output is empty: give a folder for the videos")
  output = paths.resolve(FLAGS.output)
  if os.path.isfile(output):
    raise UserError(f"--output {output} is a file: give a folder (the videos, grid.gif and "
                    f"videos.npz go in it)")
  paths.check_writable_folder(output, "--output")
  images = [os.path.expanduser(p) for p in FLAGS.image.split(",") if p.strip()]
  if not 1 <= FLAGS.num <= MAX_VIDEOS:
    raise UserError(f"--num must be in [1, {MAX_VIDEOS}], got {FLAGS.num}")
  if not 0 < FLAGS.fps <= 1000:
    raise UserError(f"--fps must be in (0, 1000], got {FLAGS.fps}")
  for path in images:
    if not os.path.isfile(path):
      raise UserError(f"--image {path} does not exist")
  n = len(images) or FLAGS.num
  clash = existing_outputs(output, n)
  if clash and not FLAGS.overwrite:
    raise UserError(f"--output {output} already holds {os.path.basename(clash[0])} (and "
                    f"{len(clash) - 1} more): choose another folder or pass --overwrite")
  model = jaxvid.load(FLAGS.workdir, FLAGS.step, expected="vgan")
  if model.conditional and not images:
    raise UserError("this VGAN is conditional: give its first frame(s) with --image")
  if images and not model.conditional:
    raise UserError("--image needs a conditional VGAN; this one is unconditional")
  d = model.config.data
  clip_bytes = d.frames * d.height * d.width * 3
  _check_room(output, n, clip_bytes)
  os.makedirs(output, exist_ok=True)
  if images:
    batches = [model.predict(read_images(images, d.height, d.width), FLAGS.running_stats,
                             outputs=True)]
  else:
    batches = model.generate_batches(n, jax.random.key(FLAGS.seed),
                                     running_stats=FLAGS.running_stats)
  # Streamed: each video is written as its batch comes, the raw clips go to a file on disk
  # (videos.npz is made from it at the end), and only the grid's first 16 stay in memory.
  raw_path = os.path.join(output, "videos.partial.npy")
  raw = np.lib.format.open_memmap(raw_path, mode="w+", dtype=np.uint8,
                                  shape=(n, d.frames, d.height, d.width, 3))
  kept, done = [], 0
  try:
    with progress.bar(n, "generate", "video", FLAGS.progress) as bar:
      for part in batches:
        videos = visualize.to_uint8(part["video"])
        for i, video in enumerate(videos):  # a .partial name until the file is complete
          final = os.path.join(output, f"video_{done + i:04d}.mp4")
          partial = visualize.write_video(paths.partial_name(final), video, fps=FLAGS.fps)
          os.replace(partial, final)
        raw[done:done + len(videos)] = videos
        if done < 16:
          kept.append({k: v[:16 - done] for k, v in part.items()})
        done += len(videos)
        bar.update(len(videos))
  except KeyboardInterrupt:  # stopped early: the videos made so far, complete and listed
    if done:
      _finish(output, raw, raw_path, kept, done, d)
    else:
      os.remove(raw_path)
    raise UserError(f"stopped after {done} of {n} videos; {output} holds those "
                    f"{'(video_*.mp4, grid.gif, videos.npz)' if done else '(none)'}") from None
  _finish(output, raw, raw_path, kept, done, d)
  print(f"vgan step {model.step}: wrote {n} videos ({d.frames}x{d.height}x{d.width}) to "
        f"{output}: video_*.mp4, grid.gif, videos.npz", flush=True)


def _check_room(output: str, n: int, clip_bytes: int) -> None:
  """Refuse a request the disk cannot hold (the raw clips twice while videos.npz is made, plus
  the mp4s), and say what a large one will write before it starts."""
  import shutil
  need = n * clip_bytes * 2 + n * 20_000
  existing = output
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  free = shutil.disk_usage(existing).free
  if need > free:
    raise UserError(f"--num={n}: the videos need about {need / 1e9:.1f} GB in {output}, "
                    f"{free / 1e9:.1f} GB are free; ask for fewer")
  if n > 10_000:
    print(f"generating {n} videos: {n} mp4 files and about {need / 1e9:.1f} GB in {output}",
          flush=True)


if __name__ == "__main__":
  define_flags()
  app.run(errors.run_cli(main))

