"""Extract poses from videos: MediaPipe's pose model on every frame -> COCO-18 keypoints + face
boxes (jaxvid/poses/extract.py says how).

  python -m jaxvid.extract --input=VIDEO_OR_FOLDER --output=poses.npz|DIR

A folder's videos give DIR/<relative path with extension>.npz (sub/a.mp4 -> DIR/sub/a.mp4.npz).
"""
from __future__ import annotations

import os
import sys

from absl import app, flags

from jaxvid import errors, video_io
from jaxvid.errors import UserError
from jaxvid.poses.extract import PoseExtractor, extract_file

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("input", None, "a video file or a folder of videos")
  flags.DEFINE_string("output", None, "an .npz (one video) or a folder (one .npz per video)")
  flags.DEFINE_integer("max_frames", 0, "frames per video at most (0: all)")
  flags.DEFINE_integer("max_gap", 5, "fill undetected runs of at most this many frames")
  flags.DEFINE_bool("progress", True, "a progress bar per video (one line per video off a "
                    "terminal)")
  flags.mark_flags_as_required(["input", "output"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  source, output = os.path.expanduser(FLAGS.input), os.path.expanduser(FLAGS.output)
  inputs = ([source] if os.path.isfile(source) else
            video_io.list_videos(source) if os.path.isdir(source) else [])
  if not inputs:
    raise UserError(f"--input {source}: no such video file or folder with videos")
  single = os.path.isfile(source)
  if single and not output.endswith(".npz"):
    output += ".npz"  # what np.savez writes; say that name
  if single:  # made before the (long) extraction, not after it
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  if not single and os.path.isfile(output):
    raise UserError(f"--output {output} is a file; a folder of videos needs an output folder")
  if not single:
    os.makedirs(output, exist_ok=True)
  extractor = PoseExtractor(max_gap=FLAGS.max_gap)
  failed = 0
  for path in inputs:
    # FOLDER/sub/a.mp4 -> OUTPUT/sub/a.mp4.npz: the relative path and the extension kept, so
    # clip.mp4 and clip.mkv, or sub/a.mp4 and sub__a.mp4, never share an output
    out = output if single else os.path.join(output, os.path.relpath(path, source) + ".npz")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    try:
      poses = extract_file(path, extractor, FLAGS.max_frames or None, FLAGS.progress)
    except (video_io.VideoReadError, ValueError) as e:
      print(f"error: {path}: {e}", file=sys.stderr)
      failed += 1
      continue
    poses.save(out)
    print(f"{path}: {len(poses.detected)} frames ({poses.size[1]}x{poses.size[0]} at "
          f"{poses.fps:g} fps), person found in {100 * poses.detection_rate:.1f}% "
          f"({int(poses.filled.sum())} filled) -> {out}", flush=True)
  extractor.close()
  if failed:
    print(f"{failed} of {len(inputs)} videos failed", file=sys.stderr)
    sys.exit(1 if failed == len(inputs) else 0)


if __name__ == "__main__":
  define_flags()
  app.run(errors.run_cli(main))
