"""From a training workdir to results in Python: `jaxvid.load(workdir)` and `jaxvid.export`.

  model = jaxvid.load("runs/vgan")          # the newest checkpoint (or step=N)
  videos = model.generate(16)               # (16, T, H, W, 3) uint8
  future = model.predict(frames)            # conditional VGAN: (N, H, W, 3) uint8 -> videos

  poses = jaxvid.load("runs/pose_vae").forecast(frame, past_poses, n=5)   # 5 futures
  video = jaxvid.load("runs/pose_gan").render(frame, poses)
  frames = jaxvid.load("runs/edn_face").transfer(source_poses, source_size=(360, 640))
  jaxvid.export("runs/vgan", "exports/vgan")  # parameters + config only; jaxvid.load reads it

Every kind of model loads into a `jaxvid.inference` model (config, trainer, state, step) with
its kind's methods; the CLIs (generate, forecast, transfer, evaluate) and the training loop's
warm starts go through `load`. The orbax I/O is jaxvid/checkpoint.py's.
"""
from __future__ import annotations

import logging

from jaxvid import checkpoint as ckpt_lib
from jaxvid import config_defaults, inference, paths
from jaxvid.errors import UserError
from jaxvid.trainers import get_trainer

logger = logging.getLogger(__name__)


def load(workdir: str, step: int | None = None, expected: str | None = None,
         data_dir: str | None = None, manual_dir: str | None = None):
  """The trained model in `workdir` (its newest checkpoint, or `step`) or in a directory
  `export` wrote; with `expected`, a model of another kind is an error before any checkpoint is
  read. An export's config comes from another machine: its paths (config_defaults.PATH_KEYS)
  are cleared, so its held-out data is built where `data_dir` says (default: TFDS's,
  ~/tensorflow_datasets) from `manual_dir` (a video_folder's videos); a workdir keeps its own
  unless they are given."""
  workdir = paths.resolve(workdir)
  config = ckpt_lib.load_config(workdir)
  if expected is not None and config.get("model") != expected:
    raise UserError(f"{workdir} holds a {config.get('model')!r} model; expected {expected!r}")
  export = ckpt_lib.is_export(workdir)
  if export:
    cleared = config_defaults.clear_machine_paths(config)
    if cleared:
      logger.info(f"{workdir}: an export's paths are not used on this machine "
                  f"({', '.join(cleared)})")
  if "data" in config:
    if data_dir is not None:
      config.data.data_dir = data_dir
    if manual_dir is not None:
      config.data.manual_dir = manual_dir
  trainer = get_trainer(config)
  cls = inference.model_class(config.model)
  if export:
    step, state, target_poses = ckpt_lib.restore_export(workdir, trainer, step)
    model = cls(config=config, trainer=trainer, state=state, step=step, workdir=workdir)
    if target_poses is not None:
      model.target_keypoints = target_poses
    return model
  step, state = ckpt_lib.load_latest(trainer, workdir, step=step)
  return cls(config=config, trainer=trainer, state=state, step=int(step), workdir=workdir)


def export(workdir: str, out: str, step: int | None = None) -> str:
  """A self-contained inference directory from a training workdir: the generator's parameters
  and BatchNorm statistics (no optimizer state, no discriminator), config.json and export.json
  (model, step, architecture); EDN also keeps the target's training poses, which transfer
  normalises to. `jaxvid.load(out)` reads it. Returns the directory."""
  out = paths.resolve(out)
  target = paths.Path(out)
  if target.exists() and (not target.is_dir() or any(target.iterdir())):
    raise UserError(f"{out} exists and is not an empty directory: export writes a new one")
  model = load(workdir, step)
  poses = model.target_poses() if isinstance(model, inference.EDNModel) else None
  ckpt_lib.save_export(out, model.state, model.step, model.config, model.trainer.metadata(),
                       paths.resolve(workdir), poses)
  return out
