"""The Pose Knows end to end: past frames -> pose-VAE pose futures -> GAN video futures.

  python -m jaxvid.forecast --vae_workdir=runs/pose_vae --gan_workdir=runs/pose_gan \
      --output=runs/forecast.mp4 [--num_clips=4 --num_futures=5 --input=VIDEO|PHOTO|.npz]

Both models are restored from their training workdirs (config.json + newest checkpoint). Input
clips are the held-out (test) clips of the pose-VAE's dataset, or `--input`:
  VIDEO (any size, fps)  frames from --start, every --frame_step-th, with poses from --poses
                         (jaxvid.extract's .npz of that video) or MediaPipe; the person's window
                         (--crop=person) or the centre (--crop=center) scaled to the VAE's frame
                         (jaxvid/poses/clip_input.py)
  PHOTO (.png, .jpg)     a person standing still: the frame and its pose held for the whole past
  POSES.npz              jaxvid.extract's output: the video is its `source`, as VIDEO
  CLIPS.npz              `video` (B, T, H, W, 3) uint8 and `keypoints` (B, T, 18, 3) in pixels
                         (x, y, confidence) at the VAE's frame size
Each clip needs T >= past_steps x frames_per_step + 1 frames (the present X_t is the last).

As the authors' code: the VAE forecasts one pose per step of frames_per_step frames; the poses
between steps are interpolated linearly (getIntermediates) over the GAN's clip, which must lie
within the horizon the VAE was trained on (--extend rolls it further). Which futures are shown
(--select): 'kmeans' (evaltest.lua: --num_samples=800 futures from the prior, the
--top_fraction=0.1 that move most, the --num_futures=5 k-means centres of those, the biggest
cluster first) or 'random' (the first --num_futures drawn). Each future is rendered to a
skeleton video S_T and G(X_t, S_T) turns it into frames. The output video has one row per clip:
the real continuation (its last frame held where the clip ends) and, for each future, its
skeletons and its generated frames; the poses and each future's share of the kept samples go to
OUTPUT_poses.npz.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from absl import app, flags

import jaxvid
from jaxvid import errors, paths, visualize
from jaxvid.data import pipeline
from jaxvid.errors import UserError
from jaxvid.inference import pose_knows
from jaxvid.pixels import to_unit_range
from jaxvid.poses import clip_input

FLAGS = flags.FLAGS


def define_flags():
  """The CLI's flags; defined only when run as a program (the library imports no flags)."""
  flags.DEFINE_string("vae_workdir", None, "training workdir of a pose_vae model")
  flags.DEFINE_string("gan_workdir", None, "training workdir of a pose_gan model")
  flags.DEFINE_integer("vae_step", None, "checkpoint step of the pose_vae (default: the newest)")
  flags.DEFINE_integer("gan_step", None, "checkpoint step of the pose_gan (default: the newest)")
  flags.DEFINE_string("output", None, "output video (.mp4 or .gif)")
  flags.DEFINE_string("input", None, "a video, a photo, jaxvid.extract's poses .npz, or an .npz "
                      "of clips (video, keypoints) at the VAE's size (default: held-out clips)")
  flags.DEFINE_string("poses", "", "--input VIDEO: its poses from jaxvid.extract (default: "
                      "extracted with MediaPipe)")
  flags.DEFINE_integer("start", 0, "--input VIDEO: the first frame of the past")
  flags.DEFINE_integer("frame_step", 1, "--input VIDEO: use every n-th frame (a 30 fps video at 3 "
                       "gives 10 fps)")
  flags.DEFINE_enum("crop", "person", list(clip_input.CROPS), "--input VIDEO or PHOTO: the "
                    "person's window or the frame's centre, scaled to the VAE's frame")
  flags.DEFINE_float("person_height", clip_input.PERSON_HEIGHT, "--crop=person: the share of the "
                     "frame's height the person's joints span (the training dancer's ~0.55)")
  flags.DEFINE_integer("num_clips", 4, "held-out clips to forecast")
  flags.DEFINE_integer("num_futures", 5, "futures shown per clip (k-means clusters)")
  flags.DEFINE_enum("select", "kmeans", list(pose_knows.SELECTIONS),
                    "kmeans: the code's cluster centres of the most moving samples; random")
  flags.DEFINE_integer("num_samples", 800, "kmeans: futures drawn from the prior per clip")
  flags.DEFINE_float("top_fraction", 0.1, "kmeans: the share of samples kept, most motion first")
  flags.DEFINE_enum("score", "motion", ["motion", "code"],
                    "kmeans: motion = summed joint speed; code = evaltest.lua's code norms")
  flags.DEFINE_bool("extend", False, "roll the pose-VAE out past the horizon it was trained on")
  flags.DEFINE_integer("seed", 0, "seed of the sampled futures")
  flags.DEFINE_integer("fps", 8, "frames per second of the output")
  flags.DEFINE_bool("overwrite", False, "replace an existing --output (never the --input)")
  flags.mark_flags_as_required(["vae_workdir", "gan_workdir", "output"])


def _check_input_flags() -> None:
  """The input flags' one-line errors, before the models load."""
  if FLAGS.start < 0 or FLAGS.frame_step < 1 or not 0 < FLAGS.person_height <= 1:
    raise UserError(f"need --start >= 0, --frame_step >= 1 and 0 < --person_height <= 1, got "
                    f"{FLAGS.start}, {FLAGS.frame_step} and {FLAGS.person_height}")
  for flag in ("input", "poses"):
    value = getattr(FLAGS, flag)
    if value and not os.path.isfile(os.path.expanduser(value)):
      raise UserError(f"--{flag} {os.path.expanduser(value)} does not exist")
  if FLAGS.poses and (not FLAGS.input or FLAGS.input.lower().endswith(".npz")):
    raise UserError("--poses goes with --input=VIDEO (the poses of that video)")


def _video_input(path: str, poses: str, d, need: int, frames: int) -> dict:
  clip = clip_input.clip_from_video(path, d.height, d.width, frames, need, poses_path=poses,
                                    start=FLAGS.start, frame_step=FLAGS.frame_step,
                                    crop=FLAGS.crop, person_height=FLAGS.person_height)
  print(f"{path}: {'a still photo held for ' if clip.still else ''}"
        f"{len(clip.video)} frames, {FLAGS.crop} crop to {d.height}x{d.width}", flush=True)
  return {"video": to_unit_range(clip.video[None]),
          "keypoints": clip.keypoints[None].astype(np.float32)}


def _load_inputs(vae, num_clips: int, gan_frames: int) -> dict:
  d = vae.config.data
  need = vae.config.pose_vae.past_steps * vae.trainer.frames_per_step + 1
  if FLAGS.input:
    input_path = os.path.expanduser(FLAGS.input)  # _check_input_flags: it exists
    if not input_path.lower().endswith(".npz"):  # a video or a photo
      return _video_input(input_path, FLAGS.poses, d, need, need + gan_frames - 1)
    try:
      with np.load(input_path) as f:
        if "video" not in f and "source" in f:  # jaxvid.extract's poses of a video
          source = str(f["source"])
          if not os.path.isfile(source):
            raise UserError(f"--input {input_path}: its video {source} does not exist")
          return _video_input(source, input_path, d, need, need + gan_frames - 1)
        video, keypoints = f["video"], f["keypoints"]
    except (KeyError, ValueError, OSError) as e:
      raise UserError(f"--input {input_path}: need a video, a photo, or an .npz with 'video' "
                      f"and 'keypoints' or from jaxvid.extract ({e})") from e
    if (video.ndim != 5 or video.shape[2:] != (d.height, d.width, 3) or video.shape[1] < need
        or keypoints.shape != video.shape[:2] + (18, 3) or len(video) == 0):
      raise UserError(f"--input {input_path}: video must be (B>=1, T>={need}, {d.height}, "
                      f"{d.width}, 3) and keypoints (B, T, 18, 3); got {video.shape} and "
                      f"{keypoints.shape}")
    if video.dtype != np.uint8:
      raise UserError(f"--input {input_path}: video must be uint8 frames (0..255), got "
                      f"{video.dtype}")
    if not np.isfinite(keypoints).all():
      raise UserError(f"--input {input_path}: keypoints hold NaN or inf (missing joints are "
                      f"confidence 0, not NaN)")
    return {"video": to_unit_range(video), "keypoints": keypoints.astype(np.float32)}
  held_out = len(pipeline.test_source(vae.config))
  if num_clips > held_out:
    raise UserError(f"--num_clips={num_clips}, but the pose-VAE's held-out split has "
                    f"{held_out} clips (clips are not repeated)")
  batch = pipeline.make_sample_batch(vae.config, num_clips, held_out_only=True)
  return {"video": batch["video"], "keypoints": batch["keypoints"]}


def figure(inputs: dict, outputs: dict, past: int, frames: int, size: tuple[int, int]):
  """Rows of (T, H, W, 3) cells: real continuation | (skeletons, generated) per future."""
  real = inputs["video"][:, past:past + frames]
  if real.shape[1] < frames:  # hold the last real frame where the clip ends
    real = np.concatenate([real, np.repeat(real[:, -1:], frames - real.shape[1], 1)], 1)
  if real.shape[2:4] != size:
    real = np.asarray(jax.image.resize(real, real.shape[:2] + size + (3,), "bilinear"))
  rows = []
  for i in range(real.shape[0]):
    row = [real[i]]
    for n in range(outputs["videos"].shape[0]):
      row += [outputs["skeletons"][n, i], outputs["videos"][n, i]]
    rows.append(row)
  labels = ["real"] + [f"{kind} {n + 1}" for n in range(outputs["videos"].shape[0])
                       for kind in ("poses", "video")]
  return rows, labels


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")

  if FLAGS.num_futures < 1 or FLAGS.num_clips < 1:
    raise UserError(f"--num_futures and --num_clips must be >= 1, got {FLAGS.num_futures} and "
                    f"{FLAGS.num_clips}")
  if not 0 < FLAGS.fps <= 1000:
    raise UserError(f"--fps must be in (0, 1000], got {FLAGS.fps}")
  selection = pose_knows.Selection(FLAGS.select, FLAGS.num_samples, FLAGS.top_fraction,
                                   FLAGS.score)
  selection.check(FLAGS.num_futures)
  _check_input_flags()
  inputs = paths.input_files(FLAGS.input or "", FLAGS.poses)
  output = paths.check_output_file(FLAGS.output, "--output", suffixes=(".mp4", ".gif"),
                                   inputs=inputs, overwrite=FLAGS.overwrite)
  poses_output = paths.check_output_file(
      os.path.splitext(output)[0] + "_poses.npz", "--output (its poses)", inputs=inputs,
      overwrite=FLAGS.overwrite)
  vae = jaxvid.load(FLAGS.vae_workdir, FLAGS.vae_step, expected="pose_vae")
  gan = jaxvid.load(FLAGS.gan_workdir, FLAGS.gan_step, expected="pose_gan")
  pose_knows.rollout_steps(vae, gan.config.data.frames - 1, FLAGS.extend)  # the horizon, early
  inputs = _load_inputs(vae, FLAGS.num_clips, gan.config.data.frames)
  print(f"pose_vae step {vae.step} ({FLAGS.vae_workdir}) -> pose_gan step {gan.step} "
        f"({FLAGS.gan_workdir}); "
        f"{inputs['video'].shape[0]} clips x {FLAGS.num_futures} futures ({FLAGS.select}"
        f"{f' of {FLAGS.num_samples} samples' if FLAGS.select == 'kmeans' else ''})", flush=True)
  outputs = pose_knows.forecast_videos(vae, gan, inputs["video"], inputs["keypoints"],
                                       jax.random.key(FLAGS.seed), FLAGS.num_futures,
                                       selection, FLAGS.extend)
  gd = gan.config.data
  present = vae.config.pose_vae.past_steps * vae.trainer.frames_per_step
  rows, labels = figure(inputs, outputs, present, gd.frames, (gd.height, gd.width))
  grid = visualize.tile(rows, scale=max(1, 128 // gd.height), labels=labels)
  path = visualize.write_video(output, grid, fps=FLAGS.fps)
  np.savez(poses_output, poses=outputs["poses"], shares=outputs["shares"])
  print(f"wrote {path} and its poses", flush=True)


if __name__ == "__main__":
  define_flags()
  app.run(errors.run_cli(main))
