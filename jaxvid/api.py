"""From a training workdir to results in Python: `jaxvid.load(workdir)`.

  model = jaxvid.load("runs/vgan")          # the newest checkpoint (or step=N)
  videos = model.generate(16)               # (16, T, H, W, 3) uint8
  future = model.predict(frames)            # conditional VGAN: (N, H, W, 3) uint8 -> videos

  poses = jaxvid.load("runs/pose_vae").forecast(frame, past_poses, n=5)   # 5 futures
  video = jaxvid.load("runs/pose_gan").render(frame, poses)
  frames = jaxvid.load("runs/edn_face").transfer(source_poses, source_size=(360, 640))
  jaxvid.export("runs/vgan", "exports/vgan")  # parameters + config only; jaxvid.load reads it

Every kind of model loads into a `TrainedModel` (config, trainer, state, step) with its kind's
methods. The CLIs (jaxvid.generate, transfer, forecast, evaluate) are thin wrappers over these.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxvid import checkpoint as ckpt_lib
from jaxvid import paths
from jaxvid import visualize
from jaxvid.errors import UserError


@dataclasses.dataclass
class TrainedModel:
  config: Any
  trainer: Any
  state: Any
  step: int
  workdir: str


@dataclasses.dataclass
class VGANModel(TrainedModel):
  """A trained VGAN (unconditional, or conditional on a first frame)."""

  @property
  def conditional(self) -> bool:
    return bool(self.config.vgan.conditional)

  @functools.cached_property
  def _jitted_sample(self):  # one compiled function per model, not one per call
    return jax.jit(self.trainer.sample, static_argnums=2)

  def _sample(self, inputs, running_stats: bool) -> dict:
    return self._jitted_sample(self.state, inputs, running_stats)

  def generate(self, n: int, key=None, batch_size: int = 0, running_stats: bool = False,
               outputs: bool = False):
    """n videos from z ~ N(0, I): (n, T, H, W, 3) uint8, or with `outputs` the dict of
    streams ('video', 'foreground', 'background', 'mask') in [-1, 1]. Batches of `batch_size`
    (default: the training sample batch); with batch statistics (the default, as in training)
    the last batch is filled with extra samples so it has the same size."""
    if self.conditional:
      raise UserError("this VGAN is conditional: use predict(frames) (generate --image)")
    if n < 1:
      raise UserError(f"the number of videos must be >= 1, got {n}")
    key = jax.random.key(0) if key is None else key
    size = batch_size or int(self.config.train.num_samples)
    parts = []
    for i in range(0, n, size):
      z = jax.random.normal(jax.random.fold_in(key, i), (size, self.config.vgan.z_dim))
      out = self._sample(z, running_stats)
      parts.append({k: np.asarray(v)[:min(size, n - i)] for k, v in out.items()})
    result = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return result if outputs else visualize.to_uint8(result["video"])

  def predict(self, frames, running_stats: bool = False, outputs: bool = False):
    """The future of each first frame: (N, H, W, 3) uint8 (or [-1, 1] float) at the model's
    size -> (N, T, H, W, 3) uint8 (or the streams with `outputs`)."""
    if not self.conditional:
      raise UserError("this VGAN is unconditional: use generate(n)")
    d = self.config.data
    frames = _frames_in_unit_range(frames, "frames", (None, d.height, d.width, 3))
    out = {k: np.asarray(v) for k, v in self._sample(frames, running_stats).items()}
    return out if outputs else visualize.to_uint8(out["video"])



def _check_shape(array: np.ndarray, what: str, shape: tuple, meaning: str = "") -> None:
  """One-line error unless `array` has `shape` (None: any size on that axis)."""
  if array.ndim != len(shape) or any(s is not None and f != s
                                     for f, s in zip(array.shape, shape)):
    want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
    raise UserError(f"{what} must be {want}{meaning}, got {array.shape}")


def _frames_in_unit_range(frames, what: str, shape: tuple) -> jax.Array:
  """uint8 (0..255) or float ([-1, 1]) frames of `shape` (None: any size) -> float32 [-1, 1]."""
  frames = np.asarray(frames)
  _check_shape(frames, what, shape)
  if frames.dtype == np.uint8:
    return jnp.asarray(frames, jnp.float32) / 127.5 - 1.0
  if not np.isfinite(frames).all() or np.abs(frames).max(initial=0) > 1.0 + 1e-6:
    raise UserError(f"{what}: float frames must be finite and in [-1, 1] (or pass uint8)")
  return jnp.asarray(frames, jnp.float32)


def _poses(poses, what: str, shape: tuple) -> jax.Array:
  poses = np.asarray(poses, np.float32)
  _check_shape(poses, what, shape, " (x, y in pixels, confidence)")
  if not np.isfinite(poses).all():
    raise UserError(f"{what} hold NaN or inf: a missing joint is confidence 0, not NaN")
  return jnp.asarray(poses)


class PoseVAEModel(TrainedModel):
  """The Pose Knows' pose VAE: futures of a pose sequence from one frame and its past poses."""

  def forecast(self, frame, past_poses, n: int = 1, key=None, steps: int | None = None):
    """n sampled futures: frame (B, H, W, 3) (uint8, or [-1, 1]) and its past poses
    (B, past_steps + 1, 18, 3) in pixels, the last one the frame's -> poses
    (n, B, steps + 1, 18, 3) in pixels, the first the frame's (steps: default future_steps)."""
    t, d, p = self.trainer, self.config.data, self.config.pose_vae
    frame = _frames_in_unit_range(frame, "frame", (None, d.height, d.width, 3))
    past = _poses(past_poses, "past_poses", (frame.shape[0], p.past_steps + 1, 18, 3))
    if n < 1:
      raise UserError(f"the number of futures must be >= 1, got {n}")
    steps = p.future_steps if steps is None else steps
    # split_window reads one whole window; only the past and the frame at the present are used
    fill = jnp.repeat(past[:, -1:], t.window - past.shape[1], axis=1)
    batch = {"keypoints": jnp.concatenate([past, fill], 1),
             "video": jnp.repeat(frame[:, None], t.window, axis=1)}
    window = t.split_window(batch, 0)
    key = jax.random.key(0) if key is None else key
    run = jax.jit(lambda k: t.forecast(self.state, window, steps, k))
    poses = jnp.stack([run(k) for k in jax.random.split(key, n)])
    return np.asarray(poses / t.scale)


class PoseGANModel(TrainedModel):
  """The Pose Knows' pose-conditioned video GAN: a video of one frame's scene following poses."""

  def render(self, frame, poses, key=None):
    """frame (B, H, W, 3) (uint8, or [-1, 1]) and poses (B, T, 18, 3) in pixels of the
    model's frame, T = config.data.frames -> videos (B, T, H, W, 3) uint8."""
    d = self.config.data
    frame = _frames_in_unit_range(frame, "frame", (None, d.height, d.width, 3))
    poses = _poses(poses, "poses", (frame.shape[0], d.frames, 18, 3))
    key = jax.random.key(0) if key is None else key
    variables = {"params": self.state.g_params, "batch_stats": self.state.g_batch_stats}
    video, _ = jax.jit(self.trainer.generate)(variables, frame, self.trainer.skeletons(poses), key)
    return visualize.to_uint8(np.asarray(video))


class EDNModel(TrainedModel):
  """Everybody Dance Now: the target person dancing the source's poses."""

  target_keypoints: np.ndarray | None = None  # an export's training poses (no dataset needed)

  def target_poses(self) -> np.ndarray:
    """The target's training poses (N, 18, 3): what the source is normalised to."""
    if self.target_keypoints is None:
      from jaxvid import transfer as transfer_lib
      self.target_keypoints = transfer_lib.training_poses(self.config)
    return self.target_keypoints

  def transfer(self, poses, source_size: tuple[int, int] | None = None, normalize: bool = True,
               alpha: float = 0.7, smooth_window: int = 5, x_align: str = "center",
               chunk: int = 32):
    """Source poses (T, 18, 3) in pixels of a (height, width) = `source_size` video -> the
    target's frames (T, H, W, 3) uint8 (with the face GAN's refinement at stage 2). The poses
    are first mapped into the target's frame (the paper's normalisation, jaxvid.transfer);
    `normalize=False` takes them as already there."""
    from jaxvid import transfer as transfer_lib
    poses = np.asarray(_poses(poses, "poses", (None, 18, 3)))
    if normalize:
      if source_size is None:
        raise UserError("transfer needs source_size=(height, width) of the source video to "
                        "normalise its poses (or normalize=False for poses in the target's frame)")
      source = transfer_lib.Source(poses, tuple(source_size), 0.0)
      poses = transfer_lib.to_target_frame(self.trainer, source, alpha, smooth_window, x_align,
                                           target_poses=self.target_poses())
    parts = [p.get("refined", p["video"]) for p in
             transfer_lib.generate_chunks(self.trainer, self.state, poses, chunk)]
    return visualize.to_uint8(np.concatenate(parts))


KINDS = {"vgan": VGANModel, "pose_vae": PoseVAEModel, "pose_gan": PoseGANModel, "edn": EDNModel}
EXPORT_FILE = "export.json"


def _inference_fields(state) -> list[str]:
  """The state's fields sampling needs: no optimizer state and no discriminator."""
  return [f.name for f in dataclasses.fields(state)
          if not f.name.endswith("opt_state") and not f.name.startswith(("d_", "face_d_"))]


def load(workdir: str, step: int | None = None, expected: str | None = None) -> TrainedModel:
  """The trained model in `workdir` (its newest checkpoint, or `step`) or in a directory
  `export` wrote; with `expected`, a model of another kind is an error before any checkpoint is
  read."""
  from jaxvid.trainers import get_trainer
  workdir = paths.resolve(workdir)
  config = ckpt_lib.load_config(workdir)
  if expected is not None and config.get("model") != expected:
    raise UserError(f"{workdir} holds a {config.get('model')!r} model; expected {expected!r}")
  trainer = get_trainer(config)
  cls = KINDS.get(config.model, TrainedModel)
  if paths.Path(paths.join(workdir, EXPORT_FILE)).exists():
    return _load_export(workdir, step, config, trainer, cls)
  step, state = ckpt_lib.load_latest(trainer, workdir, step=step)
  return cls(config=config, trainer=trainer, state=state, step=int(step), workdir=workdir)


def _load_export(path: str, step, config, trainer, cls) -> TrainedModel:
  import json
  import orbax.checkpoint as ocp
  info = json.loads(paths.Path(paths.join(path, EXPORT_FILE)).read_text())
  if step is not None and step != info["step"]:
    raise UserError(f"{path} is an export of step {info['step']}, not {step}")
  if info.get("metadata") != trainer.metadata():
    raise UserError(f"{path}: its model record {info.get('metadata')} does not match what its "
                    f"config builds ({trainer.metadata()})")
  abstract = jax.eval_shape(trainer.init_state, jax.random.key(0))
  wanted = {name: getattr(abstract, name) for name in info["fields"]}
  try:
    restored = ocp.StandardCheckpointer().restore(paths.join(path, "inference"), wanted)
  except Exception as e:  # noqa: BLE001 - orbax/tensorstore raise many kinds here
    raise UserError(f"{path}: cannot read the exported parameters ({ckpt_lib._reason(e)})") from e
  state = abstract.replace(**{f.name: restored.get(f.name) for f in dataclasses.fields(abstract)})
  model = cls(config=config, trainer=trainer, state=state, step=int(info["step"]), workdir=path)
  target = paths.Path(paths.join(path, "target_keypoints.npy"))
  if target.exists():
    with target.open("rb") as f:
      model.target_keypoints = np.load(f)
  return model


def export(workdir: str, out: str, step: int | None = None) -> str:
  """A self-contained inference directory from a training workdir: the generator's parameters
  and BatchNorm statistics (no optimizer state, no discriminator), config.json and export.json
  (model, step, architecture); EDN also keeps the target's training poses, which transfer
  normalises to. `jaxvid.load(out)` reads it. Returns the directory."""
  import json
  import orbax.checkpoint as ocp
  model = load(workdir, step)
  out = paths.resolve(out)
  target = paths.Path(out)
  if target.exists() and (not target.is_dir() or any(target.iterdir())):
    raise UserError(f"{out} exists and is not an empty directory: export writes a new one")
  fields = _inference_fields(model.state)
  target.mkdir(parents=True, exist_ok=True)
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(paths.join(out, "inference"),
                    {name: getattr(model.state, name) for name in fields})
  checkpointer.wait_until_finished()
  ckpt_lib.dump_config(paths.join(out, "config.json"), model.config)
  if isinstance(model, EDNModel):
    with (target / "target_keypoints.npy").open("wb") as f:
      np.save(f, model.target_poses())
  (target / EXPORT_FILE).write_text(json.dumps(
      {"model": model.config.model, "step": model.step, "fields": fields,
       "metadata": model.trainer.metadata(), "from": paths.resolve(workdir)}, indent=2))
  return out
