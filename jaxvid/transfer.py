"""Everybody Dance Now motion transfer: a source's dance, performed by the trained target person.

  python -m jaxvid.extract --input=dance.mp4 --output=dance.npz
  python -m jaxvid.transfer --workdir=runs/edn_face --source=dance.npz --output=runs/me.mp4

--workdir: the workdir of an `edn` run (stage 1, or stage 2 to add the face GAN).
--source: where the source poses come from:
  VIDEO                    any video PyAV reads (any size, fps, rotation; a variable rate made
                           constant): the poses of one person (--person) extracted with
                           MediaPipe, kept in --pose_cache under the video's content
  FILE.npz                 from `jaxvid.extract`: `keypoints` (T, 18, 3) in the source
                           video's pixels, its frame `size`, `fps` and `source` path
  FOLDER                   OpenPose `*_keypoints.json` files (give --source_video or --source_size)
  FILE.npy                 keypoints alone (give --source_size)
  dancer:SUBJECT[:INDEX]   a synthetic dancer clip of another subject, --frames long, rendered
                           at --source_size (default: the target's frame)
The poses are normalised from the source's frame into the target's (jaxvid/poses/normalize.py:
ankle statistics, close/far scales, the target's ground range, x scaled about the frame
centres; the target's statistics come from the checkpoint's training poses), rendered, and
generated chunk by chunk, each frame conditioned on the previous output (the face-refined one
with stage 2). Written, frame by frame so long videos never sit in memory:
  OUTPUT                   the generated video, at the source's fps (--fps overrides), with
                           the source video's sound in sync (--noaudio: none)
  OUTPUT_side_by_side      source video | source pose | normalised pose | output (and sound)
  OUTPUT_poses.npy         the normalised poses
"""
from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
from absl import app, flags

import jaxvid
from jaxvid import av_writer, config_defaults, errors, paths, progress, video_io, visualize
from jaxvid.errors import UserError
from jaxvid.inference import edn as edn_lib
from jaxvid.pixels import to_unit_range
from jaxvid.poses import track
from jaxvid.poses.render import render_skeleton

FLAGS = flags.FLAGS
DEFAULT_FPS = 12.0  # when the source does not say
MAX_DANCER_FRAMES = 100_000  # a dancer:... source's --frames: over an hour at 25 fps
MIN_INSIDE = 0.9  # of the confident joints inside the target's frame, or an error


def define_flags():
  """The CLI's flags; defined only when run as a program (the library imports no flags)."""
  flags.DEFINE_string("workdir", None, "workdir of a trained edn model")
  flags.DEFINE_integer("step", None, "checkpoint step (default: the newest)")
  flags.DEFINE_string("source", None, "a video, poses .npz, OpenPose JSON folder, .npy, or "
                      "dancer:SUBJECT[:INDEX]")
  flags.DEFINE_string("person", "largest", "a video source with several people: whom to "
                      "follow, 'largest' (the largest fully visible at the start) or X,Y (the "
                      "person at that pixel of the frame they are in)")
  flags.DEFINE_string("pose_cache", "", "where a video source's poses are kept (default "
                      "~/.cache/jaxvid/poses)")
  flags.DEFINE_bool("audio", True, "keep the source video's sound (--noaudio: none)")
  flags.DEFINE_string("output", None, "output video (.mp4 or .gif)")
  flags.DEFINE_string("source_video", "", "the source video for the side-by-side (default: the "
                      ".npz's `source`); also gives the frame size and fps of JSON/.npy sources")
  flags.DEFINE_string("source_size", "", "HEIGHTxWIDTH of the source frames, for .npy/JSON "
                      "sources without --source_video (and the dancer's render size)")
  flags.DEFINE_integer("frames", 48, "frames of a dancer:... source")
  flags.DEFINE_float("alpha", 0.7, "far-position bound of the normalization (paper 0.7, code 0.5)")
  flags.DEFINE_integer("smooth_window", 7, "temporal median window of the poses (the code's 7; "
                       "confident detections only, 1 = off)")
  flags.DEFINE_bool("stretch", False, "map a source's short ankle range onto the target's whole "
                    "range (default: re-centred on it, as the authors' code)")
  flags.DEFINE_bool("allow_outside", False, "go on when fewer than 90% of the normalised "
                    "confident joints land inside the target's frame")
  flags.DEFINE_enum("x_align", "center", ["center", "median"], "horizontal mapping: frame "
                    "centre to frame centre (paper/code), or median ankle x to the target's")
  flags.DEFINE_bool("no_normalize", False, "use the source poses as they are (pixels of the "
                    "target's frame)")
  flags.DEFINE_float("fps", 0, "frames per second of the output (0: the source's)")
  flags.DEFINE_integer("chunk", 32, "frames generated per call (memory vs speed)")
  flags.DEFINE_bool("progress", True, "show a progress bar (one line per stage off a terminal)")
  flags.DEFINE_bool("overwrite", False, "replace existing output files (never an input)")
  flags.mark_flags_as_required(["workdir", "source", "output"])


def input_paths(source: str, source_video: str) -> tuple[str, ...]:
  """The files this command reads: the source (.npz/.npy/JSON folder), --source_video and the
  video an .npz came from (`source`): none of them may be an output."""
  return paths.input_files(source, source_video)


def output_paths(output: str, overwrite: bool, inputs: tuple[str, ...]) -> tuple[str, str, str]:
  """OUTPUT, OUTPUT_side_by_side and OUTPUT_poses.npy, each checked before any work."""
  output = paths.check_output_file(output, "--output", suffixes=(".mp4", ".gif"), inputs=inputs,
                                   overwrite=overwrite)
  root, ext = os.path.splitext(output)
  side = paths.check_output_file(f"{root}_side_by_side{ext}", "--output (its side-by-side)",
                                 inputs=inputs, overwrite=overwrite)
  poses = paths.check_output_file(f"{root}_poses.npy", "--output (its poses)", inputs=inputs,
                                  overwrite=overwrite)
  return output, side, poses


def sound_of(src, fps: float):
  """The source video's sound for an output at `fps`, or None: no video, no audio stream, a
  GIF, or another speed than the video's (the sound would drift from the moves: said)."""
  if not src.video_path or not av_writer.has_audio(src.video_path):
    return None
  if src.fps and abs(fps - src.fps) > 1e-3 * src.fps:
    print(f"no sound: --fps={fps:g} plays the {src.fps:g} fps source at another speed",
          flush=True)
    return None
  return av_writer.AudioFrom(src.video_path)


def _source_frames(src, height: int, width: int):
  """The source video's frames letterboxed into (height, width), or None without a video."""
  if src.video is not None:
    return (video_io.fit_frame(f, height, width) for f in src.video)
  if src.video_path:
    return (video_io.fit_frame(f, height, width) for f in video_io.iter_frames(src.video_path))
  return None


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  output, side_path, poses_path = output_paths(
      FLAGS.output, FLAGS.overwrite, input_paths(FLAGS.source, FLAGS.source_video))
  if not (FLAGS.fps >= 0 and FLAGS.fps < 1000):
    raise UserError(f"--fps must be in [0, 1000) (0: the source's), got {FLAGS.fps}")
  if FLAGS.chunk < 1:
    raise UserError(f"--chunk must be >= 1, got {FLAGS.chunk}")
  if not (math.isfinite(FLAGS.alpha) and FLAGS.alpha > 0):
    raise UserError(f"--alpha must be a positive number (paper 0.7, code 0.5), got {FLAGS.alpha}")
  if not 1 <= FLAGS.frames <= MAX_DANCER_FRAMES:
    raise UserError(f"--frames must be in [1, {MAX_DANCER_FRAMES}], got {FLAGS.frames}")
  if FLAGS.smooth_window < 1:
    raise UserError(f"--smooth_window must be >= 1 (1: no smoothing), got {FLAGS.smooth_window}")
  person = track.Choice.parse(FLAGS.person)
  model = jaxvid.load(FLAGS.workdir, FLAGS.step, expected="edn")
  d = model.config.data
  src = edn_lib.load_source(FLAGS.source, (d.height, d.width), FLAGS.frames, FLAGS.source_video,
                            FLAGS.source_size, person=person, cache_dir=FLAGS.pose_cache or None,
                            show_progress=FLAGS.progress, log=lambda line: print(line, flush=True),
                            layout=config_defaults.data_value(d, "pose_layout"))
  options = Options(alpha=FLAGS.alpha, smooth_window=FLAGS.smooth_window, x_align=FLAGS.x_align,
                    normalize=not FLAGS.no_normalize, recenter=not FLAGS.stretch,
                    allow_outside=FLAGS.allow_outside, fps=FLAGS.fps, audio=FLAGS.audio,
                    chunk=FLAGS.chunk, progress=FLAGS.progress)
  perform(model, src, FLAGS.source, (output, side_path, poses_path), options)


@dataclasses.dataclass(frozen=True)
class Options:
  """How a source is performed: normalisation (poses/normalize.py), speed, sound, chunking."""
  alpha: float = 0.7
  smooth_window: int = 7
  x_align: str = "center"
  normalize: bool = True
  recenter: bool = True
  allow_outside: bool = False
  fps: float = 0.0  # 0: the source's
  audio: bool = True
  chunk: int = 32
  progress: bool = True


def perform(model, src, name: str, outputs: tuple[str, str, str], options: Options) -> int:
  """The trained target performing `src` (edn_lib.Source): OUTPUT, OUTPUT_side_by_side and
  OUTPUT_poses.npy (`outputs`, checked by output_paths), written under partial names and
  renamed when complete. Returns the frames written."""
  output, side_path, poses_path = outputs
  d = model.config.data
  keypoints = model.to_target_frame(src, options.alpha, options.smooth_window, options.x_align,
                                    normalize=options.normalize, recenter=options.recenter)
  fps = options.fps or src.fps or DEFAULT_FPS
  audio = sound_of(src, fps) if options.audio else None
  inside = edn_lib.inside_fraction(keypoints, d.height, d.width)
  if inside < MIN_INSIDE and not options.allow_outside:
    raise UserError(
        f"only {100 * inside:.0f}% of the confident joints land inside the target's "
        f"{d.width}x{d.height} frame after normalisation (< {100 * MIN_INSIDE:.0f}%): the "
        f"source's close/far heights probably come from misdetections or a person cut by the "
        f"frame (check its poses' side-by-side), or the poses are already in the target's "
        f"frame (--no_normalize); --allow_outside goes on anyway")
  print(f"edn stage {model.config.edn.stage} step {model.step}: {len(keypoints)} frames from "
        f"{name} ({src.size[1]}x{src.size[0]}) into the target's {d.width}x{d.height} "
        f"frame ({100 * inside:.0f}% of the confident joints inside), {fps:g} fps"
        + ("" if src.fps or options.fps else " (the source's fps is unknown)"), flush=True)
  scale = max(1, 128 // d.height)
  video_frames = _source_frames(src, d.height, d.width)
  labels = (["source"] if video_frames is not None else []) + [
      "source pose", "normalized", "output"]
  source_pose_points = video_io.fit_points(src.keypoints[..., :2], src.size, d.height, d.width)
  source_pose = np.concatenate([source_pose_points, src.keypoints[..., 2:]], -1)
  done = 0
  # written under partial names, renamed when complete: an interrupted transfer leaves
  # OUTPUT.partial.mp4, never a file that looks finished
  with visualize.VideoWriter(paths.partial_name(output), fps, audio) as out_writer, \
       visualize.VideoWriter(paths.partial_name(side_path), fps, audio) as side_writer, \
       progress.bar(len(keypoints), "transfer", "frames", options.progress) as bar:
    for part in model.generate_chunks(keypoints, options.chunk):
      result = part["video"]
      n = len(result)
      out_writer.append(visualize.to_uint8(result))
      columns = [to_unit_range(render_skeleton(source_pose[done:done + n], d.height, d.width)),
                 part["skeletons"], result]
      if video_frames is not None:
        frames = [next(video_frames, None) for _ in range(n)]
        frames = [f if f is not None else np.zeros((d.height, d.width, 3), np.uint8)
                  for f in frames]
        columns = [to_unit_range(np.stack(frames))] + columns
      side_writer.append(visualize.tile([columns], scale=scale, labels=labels))
      done += n
      bar.update(n)
  np.save(poses_path, keypoints)
  for path in (output, side_path):
    os.replace(paths.partial_name(path), path)
  print(f"wrote {output} ({done} frames at {fps:g} fps"
        f"{', with the sound of ' + src.video_path if audio else ', no sound'}), {side_path} "
        f"and {poses_path}", flush=True)
  return done


if __name__ == "__main__":
  define_flags()
  app.run(errors.run_cli(main))
