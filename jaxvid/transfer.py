"""Everybody Dance Now motion transfer: a source's dance, performed by the trained target person.

  python -m jaxvid.poses.extract --input=dance.mp4 --output=dance.npz
  python -m jaxvid.transfer --workdir=runs/edn_face --source=dance.npz --output=runs/me.mp4

--workdir: the workdir of an `edn` run (stage 1, or stage 2 to add the face GAN).
--source: where the source poses come from:
  FILE.npz                 from `jaxvid.poses.extract`: `keypoints` (T, 18, 3) in the source
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
  OUTPUT                   the generated video, at the source's fps (--fps overrides)
  OUTPUT_side_by_side      source video | source pose | normalised pose | output
  OUTPUT_poses.npy         the normalised poses
"""
from __future__ import annotations

import dataclasses
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from jaxvid import visualize
from jaxvid.errors import UserError
from jaxvid.poses import normalize as pose_norm
from jaxvid.poses.keypoints import JOINT
from jaxvid.poses.render import render_skeleton

FLAGS = flags.FLAGS
DEFAULT_FPS = 12.0  # when the source does not say


def define_flags():
  """The CLI's flags; defined only when run as a program (the library imports no flags)."""
  flags.DEFINE_string("workdir", None, "workdir of a trained edn model")
  flags.DEFINE_integer("step", None, "checkpoint step (default: the newest)")
  flags.DEFINE_string("source", None, "poses .npz, OpenPose JSON folder, .npy, or "
                      "dancer:SUBJECT[:INDEX]")
  flags.DEFINE_string("output", None, "output video (.mp4 or .gif)")
  flags.DEFINE_string("source_video", "", "the source video for the side-by-side (default: the "
                      ".npz's `source`); also gives the frame size and fps of JSON/.npy sources")
  flags.DEFINE_string("source_size", "", "HEIGHTxWIDTH of the source frames, for .npy/JSON "
                      "sources without --source_video (and the dancer's render size)")
  flags.DEFINE_integer("frames", 48, "frames of a dancer:... source")
  flags.DEFINE_float("alpha", 0.7, "far-position bound of the normalization (paper 0.7, code 0.5)")
  flags.DEFINE_integer("smooth_window", 5, "temporal median window of the poses")
  flags.DEFINE_enum("x_align", "center", ["center", "median"], "horizontal mapping: frame "
                    "centre to frame centre (paper/code), or median ankle x to the target's")
  flags.DEFINE_bool("no_normalize", False, "use the source poses as they are (pixels of the "
                    "target's frame)")
  flags.DEFINE_float("fps", 0, "frames per second of the output (0: the source's)")
  flags.DEFINE_integer("chunk", 32, "frames generated per call (memory vs speed)")
  flags.mark_flags_as_required(["workdir", "source", "output"])


HEAD_JOINTS = ("nose", "r_eye", "l_eye", "r_ear", "l_ear")


@dataclasses.dataclass
class Source:
  keypoints: np.ndarray  # (T, 18, 3) in the source frame's pixels
  size: tuple[int, int]  # the source frame (height, width)
  fps: float  # 0: unknown
  video_path: str = ""  # the source video, read frame by frame for the side-by-side
  video: np.ndarray | None = None  # or its frames in memory (dancer:...)


def load_model(workdir: str, step: int | None = None):
  """(trainer, state, step) of the edn model trained in `workdir`."""
  from jaxvid import api
  model = api.load(workdir, step, expected="edn")
  return model.trainer, model.state, model.step


def parse_size(text: str, flag: str = "--source_size") -> tuple[int, int]:
  try:
    height, width = (int(v) for v in text.lower().split("x"))
  except ValueError as e:
    raise UserError(f"{flag} {text!r}: use HEIGHTxWIDTH, e.g. 360x640") from e
  if height <= 0 or width <= 0:
    raise UserError(f"{flag} {text!r}: sizes must be positive")
  return height, width


def _dancer(source: str, size: tuple[int, int], frames: int) -> Source:
  from jaxvid.data import synthetic_dancer
  if frames < 2:
    raise UserError(f"--frames must be >= 2 for a dancer source, got {frames}")
  parts = source.split(":")
  try:
    subject = int(parts[1])
    index = int(parts[2]) if len(parts) > 2 else 0
  except (IndexError, ValueError) as e:
    raise UserError(f"--source {source!r}: use dancer:SUBJECT[:INDEX]") from e
  if not 0 <= subject < len(synthetic_dancer.SUBJECTS):
    raise UserError(f"--source {source!r}: subjects are 0..{len(synthetic_dancer.SUBJECTS) - 1}")
  clip = synthetic_dancer.render_clip(999, index, frames, *size, subject_id=subject)
  return Source(clip["keypoints"], size, 0.0, video=clip["video"])


def load_source(source: str, target_size: tuple[int, int], frames: int = 48,
                source_video: str = "", source_size: str = "") -> Source:
  """The source's poses with the frame size, fps and video they belong to."""
  from jaxvid import video_io
  source, source_video = os.path.expanduser(source), os.path.expanduser(source_video)
  info = None
  if source_video:
    if not os.path.isfile(source_video):
      raise UserError(f"--source_video {source_video} does not exist")
    try:
      info = video_io.probe(source_video)
    except video_io.VideoReadError as e:
      raise UserError(f"--source_video {e}") from e
  given_size = parse_size(source_size) if source_size else None
  if source.startswith("dancer:"):
    return _dancer(source, given_size or target_size, frames)
  if not os.path.exists(source):
    raise UserError(f"--source {source} does not exist")
  size, fps, path = None, 0.0, source_video
  if os.path.isdir(source):
    from jaxvid.poses import openpose
    poses = openpose.read_folder(source)
    keypoints = poses.keypoints
  else:
    try:
      if source.endswith(".npy"):
        keypoints = np.load(source)
      else:
        with np.load(source) as f:
          keypoints = f["keypoints"]
          if "size" in f.files:
            size = tuple(int(v) for v in f["size"])
          fps = float(f["fps"]) if "fps" in f.files else 0.0
          stored = str(f["source"]) if "source" in f.files else ""
          path = path or (stored if stored and os.path.isfile(stored) else "")
    except (KeyError, ValueError, OSError) as e:
      raise UserError(f"--source {source}: need an .npz with 'keypoints' (from "
                      f"jaxvid.poses.extract), a .npy of keypoints or an OpenPose JSON folder "
                      f"({e})") from e
  if info is not None:  # the video is the authority on its own frame and speed
    size, fps = info.size, info.fps
  size = given_size or size
  if size is None or min(size) <= 0:
    raise UserError(f"--source {source}: the source frame size is unknown; give "
                    f"--source_video=VIDEO or --source_size=HEIGHTxWIDTH")
  keypoints = np.asarray(keypoints, np.float32)
  if keypoints.ndim != 3 or keypoints.shape[1:] != (18, 3) or len(keypoints) < 2:
    raise UserError(f"--source {source}: keypoints must be (T >= 2, 18, 3), got "
                    f"{keypoints.shape}")
  bad = ~np.isfinite(keypoints).all(-1)  # NaN/inf joints: missing, not coordinates
  if bad.all():
    raise UserError(f"--source {source}: no finite keypoint in any frame")
  keypoints = np.where(bad[..., None], 0.0, keypoints).astype(np.float32)
  return Source(keypoints, size, fps, video_path=path)


def training_poses(config) -> np.ndarray:
  """The target person's poses (N, 18, 3) from the training split."""
  from jaxvid.data import pipeline
  source = pipeline.data_source(config, "train")
  return np.concatenate([source[i]["keypoints"] for i in range(len(source))])


def to_target_frame(trainer, src: Source, alpha: float = 0.7, smooth_window: int = 5,
                    x_align: str = "center", normalize: bool = True,
                    target_poses: np.ndarray | None = None) -> np.ndarray:
  """The source's poses in the target's frame (T, 18, 3); the target's close/far statistics
  from `target_poses` (default: its training poses)."""
  if not normalize:
    return src.keypoints
  d = trainer.config.data
  target = training_poses(trainer.config) if target_poses is None else target_poses
  return pose_norm.normalize(src.keypoints, pose_norm.video_stats(target, alpha), alpha,
                             smooth_window, source_width=src.size[1], target_width=d.width,
                             x_align=x_align)


def face_boxes(keypoints: np.ndarray, size: float) -> np.ndarray:
  """(T, 4) boxes of side `size` around the confident head joints (the face GAN's crops)."""
  idx = [JOINT[j] for j in HEAD_JOINTS]
  head = keypoints[:, idx]
  ok = head[..., 2] >= 0.1
  centre = np.where(ok.any(1, keepdims=True),
                    (head[..., :2] * ok[..., None]).sum(1) / np.maximum(ok.sum(1, keepdims=True), 1),
                    keypoints[:, JOINT["neck"], :2])
  half = size / 2
  return np.concatenate([centre - half, centre + half], -1).astype(np.float32)


def generate_chunks(trainer, state, keypoints: np.ndarray, chunk: int = 32):
  """Target-frame poses (T, 18, 3) -> per chunk of frames {'video': stage 1's frames,
  ['refined'], 'skeletons'} in [-1, 1], each frame conditioned on the previous output across
  chunk borders (the refined one with the face GAN)."""
  e = trainer.config.edn
  face = state.face_g_params if e.stage == 2 else None
  run = jax.jit(trainer.generate_chunk)
  d = trainer.config.data
  previous = jnp.zeros((1, d.height, d.width, 3))  # the first frame's "previous output"
  boxes_all = face_boxes(keypoints, e.face_size)
  for start in range(0, len(keypoints), chunk):
    kp = jnp.asarray(keypoints[start:start + chunk])[None]
    skeletons = trainer.skeletons(kp)
    out, previous = run(state.g_params, skeletons, face,
                        jnp.asarray(boxes_all[start:start + chunk])[None], previous)
    yield {k: np.asarray(v[0]) for k, v in out.items()} | {"skeletons": np.asarray(skeletons[0])}


def transfer(trainer, state, keypoints: np.ndarray) -> dict:
  """Normalised (or not) target-frame poses (T, 18, 3) -> generated frames, [-1, 1], in
  memory (for short clips and tests; main() streams)."""
  parts = list(generate_chunks(trainer, state, keypoints, chunk=len(keypoints)))
  return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _source_frames(src: Source, height: int, width: int):
  """The source video's frames letterboxed into (height, width), or None without a video."""
  from jaxvid import video_io
  if src.video is not None:
    return (video_io.fit_frame(f, height, width) for f in src.video)
  if src.video_path:
    return (video_io.fit_frame(f, height, width) for f in video_io.iter_frames(src.video_path))
  return None


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from jaxvid import video_io
  output = os.path.expanduser(FLAGS.output)
  try:
    if not output.endswith((".mp4", ".gif")):
      raise UserError(f"--output {FLAGS.output}: use a .mp4 or .gif path")
    if FLAGS.chunk < 1:
      raise UserError(f"--chunk must be >= 1, got {FLAGS.chunk}")
    trainer, state, step = load_model(os.path.expanduser(FLAGS.workdir), FLAGS.step)
    d = trainer.config.data
    src = load_source(FLAGS.source, (d.height, d.width), FLAGS.frames, FLAGS.source_video,
                      FLAGS.source_size)
    keypoints = to_target_frame(trainer, src, FLAGS.alpha, FLAGS.smooth_window, FLAGS.x_align,
                                normalize=not FLAGS.no_normalize)
  except (UserError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  fps = FLAGS.fps or src.fps or DEFAULT_FPS
  joints = keypoints[keypoints[..., 2] >= 0.1]  # the confident ones: the rest are not drawn
  inside = np.mean((joints[:, 0] >= 0) & (joints[:, 0] < d.width)
                   & (joints[:, 1] >= 0) & (joints[:, 1] < d.height)) if len(joints) else 0.0
  print(f"edn stage {trainer.config.edn.stage} step {step}: {len(keypoints)} frames from "
        f"{FLAGS.source} ({src.size[1]}x{src.size[0]}) into the target's {d.width}x{d.height} "
        f"frame ({100 * inside:.0f}% of the confident joints inside), {fps:g} fps"
        + ("" if src.fps or FLAGS.fps else " (the source's fps is unknown)"), flush=True)
  root, ext = os.path.splitext(output)
  side_path = f"{root}_side_by_side{ext}"
  scale = max(1, 128 // d.height)
  video_frames = _source_frames(src, d.height, d.width)
  to_unit = lambda v: v.astype(np.float32) / 127.5 - 1.0
  labels = (["source"] if video_frames is not None else []) + [
      "source pose", "normalized", "output"]
  source_pose_points = video_io.fit_points(src.keypoints[..., :2], src.size, d.height, d.width)
  source_pose = np.concatenate([source_pose_points, src.keypoints[..., 2:]], -1)
  done = 0
  with visualize.VideoWriter(output, fps) as out_writer, \
       visualize.VideoWriter(side_path, fps) as side_writer:
    for part in generate_chunks(trainer, state, keypoints, FLAGS.chunk):
      result = part.get("refined", part["video"])
      n = len(result)
      out_writer.append(visualize.to_uint8(result))
      columns = [to_unit(render_skeleton(source_pose[done:done + n], d.height, d.width)),
                 part["skeletons"], result]
      if video_frames is not None:
        frames = [next(video_frames, None) for _ in range(n)]
        frames = [f if f is not None else np.zeros((d.height, d.width, 3), np.uint8)
                  for f in frames]
        columns = [to_unit(np.stack(frames))] + columns
      side_writer.append(visualize.tile([columns], scale=scale, labels=labels))
      done += n
      print(f"  {done}/{len(keypoints)} frames", flush=True)
  np.save(f"{root}_poses.npy", keypoints)
  print(f"wrote {output} ({done} frames at {fps:g} fps), {side_path} and {root}_poses.npy",
        flush=True)


if __name__ == "__main__":
  define_flags()
  app.run(main)
