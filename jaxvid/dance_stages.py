"""The stages of `python -m jaxvid.dance` (one target video, one source video, one command):
what each does, how long it will take on this machine, and the record that lets a rerun skip
what is done.

  poses     the target's and the source's poses (MediaPipe, one person followed), cached by
            content (jaxvid/poses/extract.cached_poses)
  dataset   the target's clips, framed on them (video_folder, data.person_crop)
  stage1    pix2pixHD + the temporal discriminator (jaxvid/train.py, configs/dance.py)
  face      the face GAN on top of stage 1
  transfer  the source performed by the target, with the source's sound (jaxvid/transfer.py)

Each training stage is an ordinary workdir under the dance workdir (stage1/, face/): the
training loop resumes it after a Ctrl-C, and `dance.json` records what finished.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time

import jax
import numpy as np

from jaxvid import parallel, paths
from jaxvid.errors import UserError
from jaxvid.poses.keypoints import JOINT

RECORD = "dance.json"
# The joints of a whole body (not the face's): a frame counts for the target when these are
# confidently seen.
BODY = [JOINT[j] for j in ("neck", "r_shoulder", "l_shoulder", "r_elbow", "l_elbow", "r_wrist",
                           "l_wrist", "r_hip", "l_hip", "r_knee", "l_knee", "r_ankle",
                           "l_ankle")]
WHOLE_BODY_CONF = 0.5
WHOLE_BODY_SHARE = 0.85  # of the BODY joints


def whole_body_frames(keypoints: np.ndarray) -> int:
  """Frames in which (nearly) the whole body is confidently seen."""
  seen = keypoints[:, BODY, 2] >= WHOLE_BODY_CONF
  return int((seen.mean(1) >= WHOLE_BODY_SHARE).sum())


@dataclasses.dataclass
class Record:
  """dance.json: which target the workdir learned and what is finished."""
  target: str
  target_digest: str
  preset: str
  finished: list = dataclasses.field(default_factory=list)  # stage names

  @staticmethod
  def read(workdir: str) -> "Record | None":
    path = os.path.join(workdir, RECORD)
    if not os.path.exists(path):
      return None
    try:
      with open(path) as f:
        return Record(**json.load(f))
    except (ValueError, TypeError) as e:
      raise UserError(f"{path} is not a jaxvid.dance record ({e}): use another --workdir") from e

  def write(self, workdir: str) -> None:
    path = os.path.join(workdir, RECORD)
    with open(path + ".tmp", "w") as f:
      json.dump(dataclasses.asdict(self), f, indent=2)
    os.replace(path + ".tmp", path)

  def done(self, stage: str, workdir: str) -> None:
    if stage not in self.finished:
      self.finished.append(stage)
    self.write(workdir)


def synthetic_batch(config) -> dict:
  """A batch shaped as the target's dataset gives one (the synthetic dancer's poses at the
  config's size): for timing a training step before the dataset exists."""
  from jaxvid.data import synthetic_dancer
  d = config.data
  clips = [synthetic_dancer.render_clip(0, i, d.frames, d.height, d.width, subject_id=0)
           for i in range(config.train.batch_size)]
  return {"video": np.stack([c["video"] for c in clips]).astype(np.float32) / 127.5 - 1,
          "keypoints": np.stack([c["keypoints"] for c in clips]),
          "face_box": np.stack([c["face_box"] for c in clips]),
          "subject_id": np.zeros(len(clips), np.int32),
          "start_frame": np.zeros(len(clips), np.int64)}


def step_seconds(config, steps: int = 3) -> tuple[float, float]:
  """(compile s, s per step) of `config`'s training step on this machine, measured as the
  training loop runs it (jitted, sharded, donated), on a synthetic batch of its shape."""
  from jaxvid.trainers import get_trainer
  trainer = get_trainer(config)
  trainer.check_for_training()
  mesh = parallel.make_mesh()
  repl, batch_sharding = parallel.replicated(mesh), parallel.batch_sharded(mesh)
  state = jax.jit(trainer.init_state, out_shardings=repl)(jax.random.key(config.seed))
  batch = parallel.host_batch_to_global(synthetic_batch(config), mesh)
  step = jax.jit(trainer.train_step, in_shardings=(repl, batch_sharding),
                 out_shardings=(repl, repl), donate_argnums=0)
  began = time.perf_counter()
  state, metrics = step(state, batch)
  jax.block_until_ready(metrics)
  compiled = time.perf_counter()
  for _ in range(steps):
    state, metrics = step(state, batch)
  jax.block_until_ready(metrics)
  return compiled - began, (time.perf_counter() - compiled) / steps


def transfer_seconds_per_frame(config, frames: int = 8) -> tuple[float, float]:
  """(compile s, s per frame) of transfer with `config`'s model (the face stage's: stage 1's
  generator and the face GAN), each frame conditioned on the one before, as
  EDNModel.generate_chunks runs it; untrained parameters of the same shapes."""
  from jaxvid.inference.edn import EDNModel
  from jaxvid.trainers import get_trainer
  trainer = get_trainer(config)
  state = jax.jit(trainer.init_state)(jax.random.key(config.seed))
  model = EDNModel(config=config, trainer=trainer, state=state, step=0, workdir="")
  keypoints = synthetic_batch(config)["keypoints"][0]
  keypoints = np.concatenate([keypoints] * (-(-frames // len(keypoints))))[:frames]
  began = time.perf_counter()
  for _ in model.generate_chunks(keypoints, frames):
    pass
  compiled = time.perf_counter()
  for _ in model.generate_chunks(keypoints, frames):
    pass
  return compiled - began, (time.perf_counter() - compiled) / frames


def pose_seconds_per_frame(path: str, frames: int = 8) -> float:
  """Seconds MediaPipe's following of one person takes per frame of this video (measured on
  its first frames; the first frame's search for everyone counted once)."""
  from jaxvid import video_io
  from jaxvid.poses import extract, track
  extractor = extract.PoseExtractor()
  try:
    tracker = track.PersonTracker(extractor, track.Choice())
    images = list(video_io.iter_frames(path, max_frames=frames + 1))
    tracker.frame(images[0])  # the search of the first frame: once per video
    began = time.perf_counter()
    for image in images[1:]:
      tracker.frame(image)
    return (time.perf_counter() - began) / max(len(images) - 1, 1)
  finally:
    extractor.close()


def format_seconds(seconds: float) -> str:
  seconds = int(round(seconds))
  if seconds < 60:
    return f"{seconds} s"
  if seconds < 3600:
    return f"{seconds // 60} min {seconds % 60:02d} s"
  return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def dataset_bytes(config, frames: int) -> int:
  """About how much the target's dataset takes: its clips (overlapping by the stride) as
  TFDS stores uint8 tensors (an int64 list: 8 bytes a value, before compression)."""
  d = config.data
  clips = max(1, (frames - d.frames) // d.clip_stride + 1)
  return clips * d.frames * d.height * d.width * 3 * 8


def check_room(workdir: str, need: int) -> None:
  """A disk clearly too small for the dataset: one error before any work."""
  import shutil
  folder = workdir
  while not os.path.exists(folder):
    folder = os.path.dirname(folder)
  free = shutil.disk_usage(folder).free
  if need > free:
    raise UserError(f"the target's dataset needs about {need / 1e9:.1f} GB in {workdir}; "
                    f"{free / 1e9:.1f} GB are free: free space or give another --workdir")


def stage_workdirs(workdir: str) -> dict[str, str]:
  return {name: paths.join(workdir, name) for name in ("stage1", "face")}
