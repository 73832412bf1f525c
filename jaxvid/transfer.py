"""Everybody Dance Now motion transfer: a source's dance, performed by the trained target person.

  python -m jaxvid.transfer --checkpoint=runs/edn_face --source=dancer:2 --output=runs/transfer.mp4

--checkpoint: the workdir of an `edn` run (stage 1, or stage 2 to add the face GAN).
--source: where the source poses come from:
  dancer:SUBJECT[:INDEX]   a synthetic dancer clip of another subject (made on the fly, with its
                           video, --frames long)
  FILE.npz                 `keypoints` (T, 18, 3) in pixels (x, y, confidence) and optionally
                           `video` (T, H, W, 3) uint8 for the side-by-side
  FILE.npy                 keypoints alone
Source poses are normalised to the target (jaxvid/poses/normalize.py, target statistics from
the checkpoint's training poses), rendered, generated frame by frame with each frame
conditioned on the previous output, optionally face-refined, and written as OUTPUT (mp4/gif)
plus OUTPUT_side_by_side (source | source pose | normalised pose | output).
"""
from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from jaxvid import checkpoint as ckpt_lib
from jaxvid import visualize
from jaxvid.errors import UserError
from jaxvid.poses import normalize as pose_norm
from jaxvid.poses.keypoints import JOINT
from jaxvid.poses.render import render_skeleton

FLAGS = flags.FLAGS


def define_flags():
  """The CLI's flags; defined only when run as a program (the library imports no flags)."""
  flags.DEFINE_string("checkpoint", None, "workdir of a trained edn model")
  flags.DEFINE_string("source", None, "dancer:SUBJECT[:INDEX], poses .npz or .npy")
  flags.DEFINE_string("output", None, "output video (.mp4 or .gif)")
  flags.DEFINE_integer("frames", 48, "frames of a dancer:... source")
  flags.DEFINE_float("alpha", 0.7, "far-position bound of the normalization (paper 0.7)")
  flags.DEFINE_integer("smooth_window", 5, "temporal median window of the poses")
  flags.DEFINE_bool("no_normalize", False, "use the source poses as they are")
  flags.DEFINE_integer("fps", 12, "frames per second of the output")
  flags.mark_flags_as_required(["checkpoint", "source", "output"])


HEAD_JOINTS = ("nose", "r_eye", "l_eye", "r_ear", "l_ear")


def load_model(workdir: str):
  from jaxvid.trainers import get_trainer
  config = ckpt_lib.load_config(workdir)
  if config.get("model") != "edn":
    raise UserError(f"{workdir} holds a {config.get('model')!r} model; transfer needs 'edn'")
  trainer = get_trainer(config)
  step, state = ckpt_lib.load_latest(trainer, workdir)
  return trainer, state, step


def load_source(source: str, height: int, width: int, frames: int) -> dict:
  """{'keypoints': (T, 18, 3) px at (height, width), 'video': uint8 or None}."""
  if source.startswith("dancer:"):
    from jaxvid.data import synthetic_dancer
    parts = source.split(":")
    try:
      subject = int(parts[1])
      index = int(parts[2]) if len(parts) > 2 else 0
    except (IndexError, ValueError) as e:
      raise UserError(f"--source {source!r}: use dancer:SUBJECT[:INDEX]") from e
    if not 0 <= subject < len(synthetic_dancer.SUBJECTS):
      raise UserError(f"--source {source!r}: subjects are 0..{len(synthetic_dancer.SUBJECTS) - 1}")
    clip = synthetic_dancer.render_clip(999, index, frames, height, width, subject_id=subject)
    return {"keypoints": clip["keypoints"], "video": clip["video"]}
  if not os.path.exists(source):
    raise UserError(f"--source {source} does not exist")
  try:
    if source.endswith(".npy"):
      keypoints, video = np.load(source), None
    else:
      with np.load(source) as f:
        keypoints, video = f["keypoints"], (f["video"] if "video" in f.files else None)
  except (KeyError, ValueError, OSError) as e:
    raise UserError(f"--source {source}: need a .npy of keypoints or an .npz with 'keypoints' "
                    f"({e})") from e
  if keypoints.ndim != 3 or keypoints.shape[1:] != (18, 3) or len(keypoints) < 2:
    raise UserError(f"--source {source}: keypoints must be (T >= 2, 18, 3), got {keypoints.shape}")
  return {"keypoints": keypoints.astype(np.float32), "video": video}


def target_stats(trainer, alpha: float) -> pose_norm.VideoStats:
  """Close/far statistics of the target person from the training poses."""
  from jaxvid.data import pipeline
  source = pipeline.data_source(trainer.config, "train")
  keypoints = np.concatenate([source[i]["keypoints"] for i in range(len(source))])
  return pose_norm.video_stats(keypoints, alpha)


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


def transfer(trainer, state, keypoints: np.ndarray) -> dict:
  """Normalised (or not) target-frame poses (T, 18, 3) -> generated frames, [-1, 1]."""
  e = trainer.config.edn
  skeletons = trainer.skeletons(jnp.asarray(keypoints)[None])
  face = state.face_g_params if e.stage == 2 else None
  boxes = jnp.asarray(face_boxes(keypoints, e.face_size))[None]
  out = jax.jit(trainer.generate_video)(state.g_params, skeletons, face, boxes)
  return {k: np.asarray(v[0]) for k, v in out.items()} | {"skeletons": np.asarray(skeletons[0])}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    trainer, state, step = load_model(FLAGS.checkpoint)
    d = trainer.config.data
    src = load_source(FLAGS.source, d.height, d.width, FLAGS.frames)
    keypoints = src["keypoints"]
    if not FLAGS.no_normalize:
      stats = target_stats(trainer, FLAGS.alpha)
      keypoints = pose_norm.normalize(keypoints, stats, FLAGS.alpha, FLAGS.smooth_window)
  except (UserError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  print(f"edn stage {trainer.config.edn.stage} step {step}: {len(keypoints)} frames from "
        f"{FLAGS.source}", flush=True)
  out = transfer(trainer, state, keypoints)
  result = out.get("refined", out["video"])
  path = visualize.write_video(FLAGS.output, visualize.to_uint8(result), fps=FLAGS.fps)
  to_unit = lambda v: v.astype(np.float32) / 127.5 - 1.0
  source_pose = to_unit(render_skeleton(src["keypoints"], d.height, d.width))
  columns = [source_pose, out["skeletons"], result]
  labels = ["source pose", "normalized", "output"]
  if src["video"] is not None and src["video"].shape[1:3] == (d.height, d.width):
    columns, labels = [to_unit(src["video"][:len(result)])] + columns, ["source"] + labels
  grid = visualize.tile([columns], scale=max(1, 128 // d.height), labels=labels)
  root, ext = os.path.splitext(path)
  side = visualize.write_video(f"{root}_side_by_side{ext}", grid, fps=FLAGS.fps)
  np.save(f"{root}_poses.npy", keypoints)
  print(f"wrote {path}, {side} and the normalized poses", flush=True)


if __name__ == "__main__":
  define_flags()
  app.run(main)
