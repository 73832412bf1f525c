"""What a training run leaves to read: TensorBoard events, metrics.jsonl and sample videos.

`Writers` is process 0's (tensorboardX, no TensorFlow; optionally Weights & Biases); a resumed
run drops the rows and events a dead run logged past the checkpoint it resumes from.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math

import numpy as np

from jaxvid import paths, visualize
from jaxvid.errors import UserError
from jaxvid.metrics import image

logger = logging.getLogger(__name__)


def _drop_rows_after(path: str, step: int) -> None:
  """metrics.jsonl rows past the checkpoint a run resumes from were logged by a run that died
  before saving them: they are about to be logged again, so they go (atomic rewrite)."""
  path = paths.Path(path)
  if not path.exists():
    return
  lines = path.read_text().splitlines(keepends=True)
  keep = [line for line in lines if _row_step(line) <= step]
  if len(keep) != len(lines):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(keep))
    tmp.replace(path)


def _row_step(line: str) -> float:
  try:
    return json.loads(line).get("step", 0)
  except ValueError:  # a line cut by a kill: drop it
    return math.inf


class Writers:
  """TensorBoard (tensorboardX: no TensorFlow needed) + metrics.jsonl; process 0 only."""

  def __init__(self, workdir: str, enabled: bool, resumed_step: int = 0, config=None):
    self.enabled = enabled
    self.tb = None
    self.jsonl = None
    self.wandb = None
    project = config.train.get("wandb", "") if config is not None else ""
    if enabled and project:

      import wandb  # checked at start-up (config_defaults.validate)
      # one W&B run per workdir: a resumed run continues it
      run_id = f"{paths.Path(workdir).name}-{hashlib.sha1(workdir.encode()).hexdigest()[:8]}"
      self.wandb = wandb.init(project=project, dir=None if paths.is_remote(workdir) else workdir,
                              id=run_id, resume="allow",
                              config=json.loads(config.to_json_best_effort()))
    if enabled:
      from tensorboardX import SummaryWriter
      paths.register_tensorboard_scheme(workdir)
      # purge_step: TensorBoard drops a dead run's events past the resumed checkpoint
      self.tb = SummaryWriter(paths.join(workdir, "tensorboard"),
                              purge_step=resumed_step + 1 if resumed_step else None)
      path = paths.join(workdir, "metrics.jsonl")
      _drop_rows_after(path, resumed_step)
      # a bucket object cannot be appended to: rewrite it whole (paths.WholeObjectWriter)
      if paths.is_remote(path):
        self.jsonl = paths.WholeObjectWriter(path)
        if paths.Path(path).exists():
          self.jsonl.write(paths.Path(path).read_bytes())
      else:
        self.jsonl = open(path, "ab")

  def scalars(self, step: int, metrics: dict, prefix: str = "train") -> None:
    if not self.enabled:
      return
    for k, v in metrics.items():
      self.tb.add_scalar(f"{prefix}/{k}", v, step)
    if self.wandb is not None:
      self.wandb.log({f"{prefix}/{k}": v for k, v in metrics.items()}, step=step)
    if prefix == "train":
      self.jsonl.write((json.dumps({"step": step, **metrics}) + "\n").encode())

  def image(self, tag: str, step: int, image_uint8: np.ndarray) -> None:
    if self.enabled:
      self.tb.add_image(tag, image_uint8, step, dataformats="HWC")

  def flush(self) -> None:
    if self.enabled:
      self.tb.flush()
      self.jsonl.flush()

  def close(self) -> None:
    if self.enabled:
      self.tb.close()
      self.jsonl.close()
    if self.wandb is not None:
      self.wandb.finish()


def write_samples(outputs: dict, trainer, sample_batch: dict, workdir: str, step: int,
                  writers: Writers, config) -> list[str]:
  scale = max(1, 128 // config.data.height)  # small clips drawn at >= 128 px
  grid = visualize.tile(trainer.figure(outputs, sample_batch), scale=scale,
                        labels=trainer.figure_columns())
  written = []
  for ext in [e.strip() for e in config.train.video_format.split(",") if e.strip()]:
    path = paths.join(workdir, "samples", f"step_{step:07d}.{ext}")
    try:
      paths.Path(path).parent.mkdir(parents=True, exist_ok=True)
      paths.write_via_local_file(
          path, lambda local: visualize.write_video(local, grid, fps=config.train.sample_fps))
      written.append(path)
    except OSError as e:  # disk full, quota, permissions: no half-written file left behind
      if paths.Path(path).exists():
        paths.Path(path).unlink()
      raise UserError(f"cannot write {path}: {e.strerror or e}; the checkpoints are intact, "
                      f"rerun the same command to resume") from e
  writers.image("samples/" + "|".join(trainer.figure_columns()), step, visualize.filmstrip(grid, 4))
  pairs = trainer.paired_outputs(outputs, sample_batch)
  if pairs is not None:  # cheap quality metrics of the fixed samples
    generated, real = pairs
    flat = lambda v: np.asarray(v).reshape((-1,) + np.shape(v)[-3:])
    quality = {"psnr": float(np.mean(image.psnr(flat(generated), flat(real))))}
    if min(np.shape(real)[-3:-1]) >= 11:
      quality["ssim"] = float(np.mean(image.ssim(flat(generated), flat(real))))
    writers.scalars(step, quality, prefix="samples")
    logger.info("sample quality: " + " ".join(f"{k}={v:.4f}" for k, v in quality.items()))
  return written
