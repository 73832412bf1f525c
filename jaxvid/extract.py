"""Extract poses from videos: MediaPipe's pose model on every frame -> COCO-18 keypoints + face
boxes (jaxvid/poses/extract.py says how).

  python -m jaxvid.extract --input=VIDEO_OR_FOLDER --output=poses.npz|DIR

A folder's videos give DIR/<relative path with extension>.npz (sub/a.mp4 -> DIR/sub/a.mp4.npz).
"""
from __future__ import annotations

import os
import sys

from absl import app, flags

from jaxvid import errors, paths, video_io
from jaxvid.errors import UserError
from jaxvid.poses import track
from jaxvid.poses.extract import PoseExtractor, extract_file

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("input", None, "a video file or a folder of videos")
  flags.DEFINE_string("output", None, "an .npz (one video) or a folder (one .npz per video)")
  flags.DEFINE_integer("max_frames", 0, "frames per video at most (0: all)")
  flags.DEFINE_integer("max_gap", 5, "fill undetected runs of at most this many frames")
  flags.DEFINE_bool("progress", True, "a progress bar per video (one line per video off a "
                    "terminal)")
  flags.DEFINE_string("person", "largest", "whom to follow when several are in view: "
                      "'largest' (the largest fully visible at the start), X,Y (the person at "
                      "that pixel of the frame they are in), or 'any' (whoever the model finds "
                      "in each frame)")
  flags.DEFINE_bool("overwrite", False, "replace existing .npz files (never an input video)")
  flags.mark_flags_as_required(["input", "output"])


def output_files(source: str, inputs: list[str], output: str, single: bool) -> list[str]:
  """One .npz per input video. One video: --output itself (.npz added), or OUTPUT/<name>.npz
  when --output is a folder (exists, or ends with '/'). A folder of videos: FOLDER/sub/a.mp4 ->
  OUTPUT/sub/a.mp4.npz, the relative path and the extension kept, so clip.mp4 and clip.mkv, or
  sub/a.mp4 and sub__a.mp4, never share an output."""
  as_folder = output.endswith(("/", os.sep)) or os.path.isdir(paths.resolve(output))
  output = paths.resolve(output)
  if single and as_folder:
    return [os.path.join(output, os.path.basename(source) + ".npz")]
  if single:
    return [output if output.endswith(".npz") else output + ".npz"]  # what np.savez writes
  if os.path.isfile(output):
    raise UserError(f"--output {output} is a file; a folder of videos needs an output folder")
  return [os.path.join(output, os.path.relpath(path, source) + ".npz") for path in inputs]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if FLAGS.max_frames < 0:
    raise UserError(f"--max_frames must be >= 0 (0: every frame), got {FLAGS.max_frames}")
  if not FLAGS.output:
    raise UserError("--output is empty: give an .npz path or a folder")
  person = None if FLAGS.person == "any" else track.Choice.parse(FLAGS.person)
  source = paths.resolve(FLAGS.input)
  inputs = ([source] if os.path.isfile(source) else
            video_io.list_videos(source) if os.path.isdir(source) else [])
  if not inputs:
    raise UserError(f"--input {source}: no such video file or folder with videos")
  single = os.path.isfile(source)
  outputs = output_files(source, inputs, FLAGS.output, single)
  for out in outputs:  # all checked before the (long) extraction
    paths.check_output_file(out, "--output", inputs=tuple(inputs), overwrite=FLAGS.overwrite)
  extractor = PoseExtractor(max_gap=FLAGS.max_gap)
  failed = 0
  for path, out in zip(inputs, outputs):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    try:
      poses = extract_file(path, extractor, FLAGS.max_frames or None, FLAGS.progress,
                           person=person, log=lambda line, path=path: print(f"{path}: {line}",
                                                                            flush=True))
    except (video_io.VideoReadError, ValueError) as e:
      print(f"error: {path}: {e}", file=sys.stderr)
      failed += 1
      continue
    poses.save(paths.partial_name(out))  # complete files only under the final name
    os.replace(paths.partial_name(out), out)
    print(f"{path}: {len(poses.detected)} frames ({poses.size[1]}x{poses.size[0]} at "
          f"{poses.fps:g} fps), person found in {100 * poses.detection_rate:.1f}% "
          f"({int(poses.filled.sum())} filled) -> {out}", flush=True)
  extractor.close()
  if failed == len(inputs):  # the last line, after MediaPipe's threads (and their logs) end
    raise UserError(f"{failed} of {len(inputs)} videos failed (each named above)")
  if failed:
    print(f"{failed} of {len(inputs)} videos failed", file=sys.stderr)


if __name__ == "__main__":
  define_flags()
  app.run(errors.run_cli(main))
