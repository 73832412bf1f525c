"""A user's own video (or photo) as a model's input clip: frames and COCO-18 poses in its frame.

The pose models are trained on clips of a fixed size with the person inside the frame; a phone
clip is 1080x1920, a webcam 640x360, a photo a single frame. `clip_from_video` reads the frames
[start, start + frames x frame_step) and their poses (from `jaxvid.extract`'s .npz, or extracted
here with MediaPipe), and maps both into the model's (height, width) frame:

* crop='person' (default): a window of the model's aspect ratio around the person's joints over
  the past (the first `min_frames`: the frames after it are what the model forecasts, so they
  must not place its input), sized so that they span `person_height` of its height (the training dancer's
  share), so a small or off-centre person fills the frame as the training clips' figures do;
  the parts of the window outside the video are black.
* crop='center': the frame scaled to cover (height, width) and centre-cropped, as the
  `video_folder` dataset prepares training clips.

A photo (or a one-frame video) is a person standing still: its frame and pose are repeated.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
from PIL import Image

from jaxvid import video_io
from jaxvid.errors import UserError

CROPS = ("person", "center")
IMAGE_SUFFIXES = video_io.IMAGE_SUFFIXES
MIN_CONFIDENCE = 0.3  # joints that place the person window
# The share of the frame's height the joints span: the synthetic dancer's training clips have
# 0.57 on average (0.46..0.69 over 40 clips), so a user's person is framed at that scale.
PERSON_HEIGHT = 0.55


@dataclasses.dataclass
class Clip:
  video: np.ndarray  # (T, height, width, 3) uint8
  keypoints: np.ndarray  # (T, 18, 3) in the clip's pixels + confidence
  still: bool  # a photo (or one frame) repeated


def person_window(keypoints: np.ndarray, aspect: float, person_height: float = PERSON_HEIGHT,
                  min_conf: float = MIN_CONFIDENCE, frame: tuple[int, int] | None = None,
                  spread: float = 0.0) -> tuple[float, float, float, float]:
  """(x0, y0, x1, y1): a window of width/height = aspect centred on every confident joint of
  every frame, in which they span `person_height` of the height (and fit across). `spread` >
  0 leaves out that share of the joints at each end of x and y (a long video's stray
  detections); with `frame` (height, width) the window is kept inside the frame, shrunk to it
  where it would be larger (black bars would take the pixels the person needs)."""
  points = keypoints[..., :2][keypoints[..., 2] >= min_conf]
  if not len(points):
    raise UserError("no confident joints in the clip: the pose detector found nobody")
  (x0, y0), (x1, y1) = np.percentile(points, [100 * spread, 100 * (1 - spread)], axis=0)
  height = max((y1 - y0) / person_height, (x1 - x0) / aspect / 0.9, 8.0)
  width = height * aspect
  cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
  if frame is not None:
    frame_h, frame_w = frame
    height = min(height, frame_h, frame_w / aspect)
    width = height * aspect
    cx = float(np.clip(cx, width / 2, frame_w - width / 2))
    cy = float(np.clip(cy, height / 2, frame_h - height / 2))
  return cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2


def crop_frames(frames: np.ndarray, window, height: int, width: int) -> np.ndarray:
  """Each frame's `window` (black outside the frame) resized to (height, width)."""
  x0, y0, x1, y1 = window
  box = tuple(int(round(v)) for v in (x0, y0, x1, y1))
  return np.stack([np.asarray(Image.fromarray(f).crop(box).resize((width, height),
                                                                  Image.BILINEAR))
                   for f in frames])


def crop_points(points: np.ndarray, window, height: int, width: int) -> np.ndarray:
  """Pixel coordinates (..., 2) -> where crop_frames puts them (pixel centres mapped)."""
  x0, y0, x1, y1 = (int(round(v)) for v in window)
  out = np.array(points, np.float32, copy=True)
  out[..., 0] = (out[..., 0] - x0 + 0.5) * width / (x1 - x0) - 0.5
  out[..., 1] = (out[..., 1] - y0 + 0.5) * height / (y1 - y0) - 0.5
  return out


def _read_frames(path: str, start: int, frames: int, frame_step: int) -> np.ndarray:
  if path.lower().endswith(IMAGE_SUFFIXES):
    try:
      return video_io.read_image(path)[None]  # upright (EXIF), 16-bit greys scaled
    except video_io.VideoReadError as e:
      raise UserError(str(e)) from e
  try:
    read = list(video_io.iter_frames(path, frame_step=frame_step, start=start,
                                     max_frames=frames))
  except video_io.VideoReadError as e:
    if start and "no frames" in str(e):
      raise UserError(f"{path}: no frames from --start={start} on") from e
    raise UserError(str(e)) from e
  return np.stack(read)


def _load_poses(poses_path: str, video: str, size, start: int, count: int, frame_step: int):
  try:
    with np.load(poses_path) as f:
      keypoints, pose_size = f["keypoints"], tuple(int(s) for s in f["size"])
  except (KeyError, ValueError, OSError) as e:
    raise UserError(f"{poses_path}: need an .npz from jaxvid.extract (keypoints, size): {e}") from e
  if pose_size != tuple(size):
    raise UserError(f"{poses_path}: poses of {pose_size[0]}x{pose_size[1]} frames, but {video} "
                    f"has {size[0]}x{size[1]}: extracted from another video?")
  index = start + frame_step * np.arange(count)
  if index[-1] >= len(keypoints):
    raise UserError(f"{poses_path}: {len(keypoints)} frames of poses, the clip needs frame "
                    f"{index[-1]} (--start={start}, --frame_step={frame_step})")
  return keypoints[index].astype(np.float32)


def clip_from_video(path: str, height: int, width: int, frames: int, min_frames: int,
                    poses_path: str = "", start: int = 0, frame_step: int = 1,
                    crop: str = "person", person_height: float = PERSON_HEIGHT,
                    extractor=None) -> Clip:
  """Up to `frames` frames (at least `min_frames`, or a photo held still) of the video at `path`
  from frame `start`, every `frame_step`-th, with their poses, in a (height, width) frame.
  Poses from `poses_path` (jaxvid.extract's .npz of the same video) or, without it, from
  `extractor` (a PoseExtractor; MediaPipe's is made when None)."""
  path = os.path.expanduser(path)
  if not os.path.isfile(path):
    raise UserError(f"{path} does not exist")
  if crop not in CROPS:
    raise UserError(f"crop must be one of {CROPS}, got {crop!r}")
  if start < 0 or frame_step < 1 or not 0 < person_height <= 1:
    raise UserError(f"need start >= 0, frame_step >= 1 and 0 < person_height <= 1, got {start}, "
                    f"{frame_step} and {person_height}")
  video = _read_frames(path, start, frames, frame_step)
  still = len(video) == 1
  if not still and len(video) < min_frames:
    raise UserError(f"{path}: {len(video)} frames from frame {start} every {frame_step}, the "
                    f"model needs at least {min_frames} (its past) — or give a photo")
  if poses_path:
    keypoints = _load_poses(os.path.expanduser(poses_path), path, video.shape[1:3],
                            0 if still else start, len(video), frame_step)
  elif extractor is not None:
    keypoints = extractor.video(iter(video)).keypoints
  else:
    from jaxvid.poses.extract import PoseExtractor  # MediaPipe only when it is needed
    extractor = PoseExtractor()
    try:
      keypoints = extractor.video(iter(video)).keypoints
    finally:
      extractor.close()
  if still:  # a person standing still for the whole past
    video = np.repeat(video, min_frames, axis=0)
    keypoints = np.repeat(keypoints[:1], min_frames, axis=0)
  size = video.shape[1:3]
  keypoints = keypoints.copy()  # a given extractor's array stays as it returned it
  if crop == "person":
    window = person_window(keypoints[:min_frames], width / height, person_height)
    video = crop_frames(video, window, height, width)
    keypoints[..., :2] = crop_points(keypoints[..., :2], window, height, width)
  else:
    video = video_io.resize_center_crop(video, height, width)
    keypoints[..., :2] = video_io.resize_center_crop_points(keypoints[..., :2], size, height,
                                                            width)
  return Clip(video=video, keypoints=keypoints, still=still)
