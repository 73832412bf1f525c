"""Training schedules counted in epochs, as the authors' code counts them.

pix2pixHD (and so Everybody Dance Now) trains `niter` epochs at a constant rate, then
`niter_decay` epochs with the rate falling linearly to 0, one frame a step at batch 1. A fixed
number of steps matches that only for one length of target video, so a config may give
`train.num_epochs` (with `optim.decay_epochs`, and EDN's `edn.face_fix_main_epochs`) and
`train.num_steps = 0`: the steps are computed once the training data is known, from its number
of frames, and printed. A `train.num_steps > 0` (a user's override) wins over the epochs.
"""
from __future__ import annotations

import math

import ml_collections

from jaxvid.errors import UserError


def uses_epochs(config) -> bool:
  return int(config.train.num_steps) <= 0 and int(config.train.get("num_epochs", 0)) > 0


def training_frames(config) -> int:
  """Distinct frames of the training split: a video_folder's clips start every clip_stride
  frames (so each adds that many new ones); every other dataset's clips are independent."""
  from jaxvid.data import pipeline  # local: pipeline builds the dataset, which takes a while

  d = config.data
  clips = len(pipeline.data_source(config, "train"))
  per_clip = min(int(d.clip_stride), int(d.frames)) if d.name == "video_folder" else int(d.frames)
  return clips * per_clip


def resolve(config, frames: int | None = None, log=print) -> ml_collections.ConfigDict:
  """`config` with train.num_steps, optim.decay_steps (and edn.face_fix_main_steps) computed
  from its epochs and the training data's `frames` (counted from the dataset when None); the
  config itself when it gives steps."""
  if int(config.train.num_steps) < 0:
    raise UserError(f"config.train.num_steps must be > 0 (or 0 with train.num_epochs > 0), got "
                    f"{config.train.num_steps}")
  if not uses_epochs(config):
    if int(config.train.num_steps) == 0:
      raise UserError("config.train.num_steps is 0 and config.train.num_epochs is not set: "
                      "give one of them")
    return config
  frames = training_frames(config) if frames is None else int(frames)
  if frames <= 0:
    raise UserError("the training split has no frames: nothing to count the epochs in")
  epochs, batch = int(config.train.num_epochs), int(config.train.batch_size)
  per_epoch = math.ceil(frames / batch)
  resolved = config.copy_and_resolve_references()  # as evaluators/common.held_out_config
  resolved.train.num_steps = epochs * per_epoch
  decay_epochs = int(config.optim.get("decay_epochs", 0))
  if decay_epochs > epochs:
    raise UserError(f"config.optim.decay_epochs={decay_epochs} must be <= train.num_epochs="
                    f"{epochs}")
  if decay_epochs:
    resolved.optim.decay_steps = decay_epochs * per_epoch
  line = (f"{epochs} epochs of {frames:,} frames at batch {batch} = "
          f"{resolved.train.num_steps:,} steps")
  if decay_epochs:
    line += f", decay from step {resolved.train.num_steps - resolved.optim.decay_steps:,}"
  fix_epochs = int(config.get("edn", {}).get("face_fix_main_epochs", 0))
  if fix_epochs:
    resolved.edn.face_fix_main_steps = fix_epochs * per_epoch
    line += f", the face D alone for the first {resolved.edn.face_fix_main_steps:,}"
  log(f"schedule: {line} (config.train.num_steps > 0 overrides)")
  return resolved
