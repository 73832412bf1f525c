"""Everybody Dance Now as a trained model: a source's poses, normalised into the target's frame
(jaxvid/poses/normalize.py), rendered and generated frame by frame, each frame conditioned on
the previous output (with the face GAN at stage 2)."""
from __future__ import annotations

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxvid import config_defaults, video_io
from jaxvid.data import pipeline, synthetic_dancer
from jaxvid.errors import UserError
from jaxvid.inference.base import TrainedModel, checked_poses
from jaxvid.pixels import to_uint8
from jaxvid.poses import normalize as pose_norm
from jaxvid.poses import openpose
from jaxvid.poses.keypoints import JOINT, LAYOUTS, with_layout

HEAD_JOINTS = ("nose", "r_eye", "l_eye", "r_ear", "l_ear")


@dataclasses.dataclass
class Source:
  keypoints: np.ndarray  # (T, J, 3) in the source frame's pixels (J: 18, or 68 with face, hands)
  size: tuple[int, int]  # the source frame (height, width)
  fps: float  # 0: unknown
  video_path: str = ""  # the source video, read frame by frame for the side-by-side
  video: np.ndarray | None = None  # or its frames in memory (dancer:...)


def parse_size(text: str, flag: str = "--source_size") -> tuple[int, int]:
  try:
    height, width = (int(v) for v in text.lower().split("x"))
  except ValueError as e:
    raise UserError(f"{flag} {text!r}: use HEIGHTxWIDTH, e.g. 360x640") from e
  if height <= 0 or width <= 0:
    raise UserError(f"{flag} {text!r}: sizes must be positive")
  return height, width


def _dancer(source: str, size: tuple[int, int], frames: int, layout: str) -> Source:
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
  keypoints = clip["keypoints"]
  if layout == "body_face_hands":
    keypoints = synthetic_dancer.with_face_hands(keypoints)
  return Source(keypoints, size, 0.0, video=clip["video"])


POSE_FILES = (".npz", ".npy")


def is_video_source(source: str) -> bool:
  """A --source that is a video file (anything but poses, a JSON folder or dancer:...)."""
  source = os.path.expanduser(source)
  return (not source.startswith("dancer:") and os.path.isfile(source)
          and not source.lower().endswith(POSE_FILES))


def _video_source(path: str, person, cache_dir: str | None, show_progress: bool, log,
                  layout: str) -> Source:
  """A video's poses, extracted (or from the cache of earlier runs: extract.cached_poses) of
  the person followed; its frame, fps and sound are the video's own."""
  from jaxvid.poses import extract  # MediaPipe only when a video is the source
  try:
    video_io.probe(path)
  except video_io.VideoReadError as e:
    raise UserError(f"--source {e}: give a video, poses (.npz from jaxvid.extract, .npy), an "
                    f"OpenPose JSON folder or dancer:SUBJECT") from e
  try:
    poses = extract.cached_poses(path, person, cache_dir, show_progress, log,
                                 face_hands=layout != "body")
  except (video_io.VideoReadError, ValueError) as e:
    raise UserError(f"--source {path}: {e}") from e
  if not poses.detected.any():
    raise UserError(f"--source {path}: nobody found in any of its {len(poses.detected)} frames "
                    f"(MediaPipe needs a whole body, reasonably large)")
  return Source(poses.points(layout), poses.size, poses.fps, video_path=os.path.abspath(path))


def load_source(source: str, target_size: tuple[int, int], frames: int = 48,
                source_video: str = "", source_size: str = "", person=None,
                cache_dir: str | None = None, show_progress: bool = True, log=None,
                layout: str = "body") -> Source:
  """The source's poses with the frame size, fps and video they belong to, from a VIDEO (poses
  extracted of `person`: jaxvid.poses.track.Choice, cached), FILE.npz (jaxvid.extract), an
  OpenPose JSON folder, FILE.npy or dancer:SUBJECT[:INDEX]; in the model's pose `layout`
  (poses/keypoints.py: face and hand points missing where the source has none)."""
  source, source_video = os.path.expanduser(source), os.path.expanduser(source_video)
  if is_video_source(source):
    from jaxvid.poses import track
    return _video_source(source, person or track.Choice(), cache_dir, show_progress, log,
                         layout)
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
    return _dancer(source, given_size or target_size, frames, layout)
  if not os.path.exists(source):
    raise UserError(f"--source {source} does not exist")
  size, fps, path = None, 0.0, source_video
  if os.path.isdir(source):
    keypoints = openpose.read_folder(source).points(layout)
  else:
    try:
      if source.endswith(".npy"):
        keypoints = np.load(source)
      else:
        with np.load(source) as f:
          keypoints = f["keypoints"]
          if "details" in f.files and layout != "body":  # jaxvid.extract --face_hands
            keypoints = np.concatenate([keypoints, f["details"]], 1)
          if "size" in f.files:
            size = tuple(int(v) for v in np.ravel(f["size"]))
            if len(size) != 2 or min(size) <= 0:
              raise UserError(f"--source {source}: its 'size' {size} is not a (height, width) "
                              f"of positive pixels; give --source_size=HEIGHTxWIDTH")
          fps = float(f["fps"]) if "fps" in f.files else 0.0
          fps = fps if np.isfinite(fps) and fps > 0 else 0.0  # inf, NaN, <= 0: unknown
          stored = str(f["source"]) if "source" in f.files else ""
          path = path or (stored if stored and os.path.isfile(stored) else "")
    except (KeyError, ValueError, OSError) as e:
      # numpy's advice for a file it cannot read ("load it unsafely using allow_pickle") is
      # not for a user: a file from elsewhere is never unpickled
      reason = "not a numpy file of arrays" if "pickle" in str(e) else str(e)
      raise UserError(f"--source {source}: need an .npz with 'keypoints' (from "
                      f"jaxvid.extract), a .npy of keypoints or an OpenPose JSON folder "
                      f"({reason})") from e
  if info is not None:  # the video is the authority on its own frame and speed
    size, fps = info.size, info.fps
  size = given_size or size
  if size is None or min(size) <= 0:
    raise UserError(f"--source {source}: the source frame size is unknown; give "
                    f"--source_video=VIDEO or --source_size=HEIGHTxWIDTH")
  keypoints = np.asarray(keypoints, np.float32)
  if (keypoints.ndim != 3 or keypoints.shape[1] not in LAYOUTS.values()
      or keypoints.shape[2] != 3 or len(keypoints) < 2):
    raise UserError(f"--source {source}: keypoints must be (T >= 2, 18 or 68, 3), got "
                    f"{keypoints.shape}")
  keypoints = with_layout(keypoints, layout)
  bad = ~np.isfinite(keypoints).all(-1)  # NaN/inf joints: missing, not coordinates
  if bad.all():
    raise UserError(f"--source {source}: no finite keypoint in any frame")
  keypoints = np.where(bad[..., None], 0.0, keypoints).astype(np.float32)
  return Source(keypoints, size, fps, video_path=path)


def training_poses(config) -> np.ndarray:
  """The target person's poses (N, 18, 3) from the training split."""
  source = pipeline.data_source(config, "train")
  return np.concatenate([source[i]["keypoints"] for i in range(len(source))])


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


def inside_fraction(keypoints: np.ndarray, height: int, width: int) -> float:
  """The fraction of the confident joints (the drawn ones) inside a height x width frame."""
  joints = keypoints[keypoints[..., 2] >= 0.1]
  if not len(joints):
    return 0.0
  return float(np.mean((joints[:, 0] >= 0) & (joints[:, 0] < width)
                       & (joints[:, 1] >= 0) & (joints[:, 1] < height)))


@dataclasses.dataclass
class EDNModel(TrainedModel):
  """Everybody Dance Now: the target person dancing the source's poses."""

  target_keypoints: np.ndarray | None = None  # an export's training poses (no dataset needed)

  def target_poses(self) -> np.ndarray:
    """The target's training poses (N, 18, 3): what the source is normalised to."""
    if self.target_keypoints is None:
      self.target_keypoints = training_poses(self.config)
    return self.target_keypoints

  def to_target_frame(self, src: Source, alpha: float = 0.7, smooth_window: int = 7,
                      x_align: str = "center", normalize: bool = True,
                      recenter: bool = True) -> np.ndarray:
    """The source's poses in the target's frame (T, 18, 3), by the target's close/far
    statistics (its training poses); skeletons outside the source's frame stay out of the
    source's statistics; `recenter` is the authors' small-range rule (poses/normalize.py)."""
    if not normalize:
      return src.keypoints
    d = self.config.data
    return pose_norm.normalize(src.keypoints, pose_norm.video_stats(self.target_poses(), alpha),
                               alpha, smooth_window, source_width=src.size[1],
                               target_width=d.width, x_align=x_align, recenter=recenter,
                               source_size=tuple(src.size))

  @functools.cached_property
  def _jitted_chunk(self):
    return jax.jit(self.trainer.generate_chunk)

  def generate_chunks(self, keypoints: np.ndarray, chunk: int = 32):
    """Target-frame poses (T, 18, 3) -> per chunk of frames {'video': the output, ['stage1':
    stage 1's frames before the face GAN], 'skeletons'} in [-1, 1], each frame conditioned on
    the previous output across chunk borders."""
    e, d = self.config.edn, self.config.data
    face = self.state.face_g_params if e.stage == 2 else None
    previous = jnp.zeros((1, d.height, d.width, 3))  # the first frame's "previous output"
    boxes_all = face_boxes(keypoints, e.face_size)
    for start in range(0, len(keypoints), chunk):
      kp = jnp.asarray(keypoints[start:start + chunk])[None]
      skeletons = self.trainer.skeletons(kp)
      out, previous = self._jitted_chunk(self.state.g_params, skeletons, face,
                                         jnp.asarray(boxes_all[start:start + chunk])[None],
                                         previous)
      yield {k: np.asarray(v[0]) for k, v in out.items()} | {"skeletons": np.asarray(skeletons[0])}

  def generate_frames(self, keypoints: np.ndarray, chunk: int = 32) -> dict:
    """generate_chunks joined: {'video', ['stage1'], 'skeletons'} (T, H, W, 3) in [-1, 1]."""
    parts = list(self.generate_chunks(keypoints, chunk))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

  def transfer(self, poses, source_size: tuple[int, int] | None = None, normalize: bool = True,
               alpha: float = 0.7, smooth_window: int = 7, x_align: str = "center",
               chunk: int = 32):
    """Source poses (T, 18, 3) in pixels of a (height, width) = `source_size` video -> the
    target's frames (T, H, W, 3) uint8 (with the face GAN's refinement at stage 2). The poses
    are first mapped into the target's frame (the paper's normalisation); `normalize=False`
    takes them as already there."""
    poses = np.asarray(checked_poses(poses, "poses", (None, None, 3)))
    layout = config_defaults.data_value(self.config.data, "pose_layout")
    if poses.shape[1] not in LAYOUTS.values():
      raise UserError(f"poses must be (T, 18 or 68, 3), got {poses.shape}")
    poses = with_layout(poses, layout)
    if normalize:
      if source_size is None:
        raise UserError("transfer needs source_size=(height, width) of the source video to "
                        "normalise its poses (or normalize=False for poses in the target's frame)")
      poses = self.to_target_frame(Source(poses, tuple(source_size), 0.0), alpha, smooth_window,
                                   x_align)
    return to_uint8(self.generate_frames(poses, chunk)["video"])
