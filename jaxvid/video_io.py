"""Reading users' videos: decode, resize + centre-crop, cut into clips, optional stabilisation.

Decoding uses PyAV (FFmpeg); resizing uses PIL. Camera stabilisation follows VGAN's
preprocessing: match features (ORB) between consecutive frames, fit a homography with RANSAC,
chain the homographies and warp every frame of a clip onto its first frame. A clip whose
matching fails (too few matches or inliers) is reported as unstabilisable so the caller can drop
and count it.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Iterator

import av
import numpy as np
from PIL import Image, ImageOps

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v")
VARIABLE_RATE_SPREAD = 1.25  # 95th / 5th percentile of the frame intervals above this: VFR
_INTERVALS_READ = 240  # packets whose timestamps are compared (no decoding)

log = logging.getLogger(__name__)


class VideoReadError(Exception):
  """A video that cannot be decoded (corrupt, empty, or not a video)."""


def list_videos(folder: str) -> list[str]:
  """Video files below `folder` (recursively, into linked folders too: a user's folder of
  links to where the videos are; each real folder once, so a link loop ends), sorted for
  determinism."""
  found, seen = [], set()
  for root, dirs, files in os.walk(folder, followlinks=True):
    real = os.path.realpath(root)
    if real in seen:
      dirs[:] = []
      continue
    seen.add(real)
    for name in files:
      if name.lower().endswith(VIDEO_EXTENSIONS):
        found.append(os.path.join(root, name))
  return sorted(found)


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  fps: float  # frames per second (0 when the container does not say)
  size: tuple[int, int]  # (height, width) as displayed (after the rotation)
  num_frames: int  # decodable frames, counted from the packets when the header has no count
  rotation: int = 0  # degrees counter-clockwise the frames are turned to display upright
  # (5th, 95th percentile) of the first frames' intervals in ms, when they differ by more than
  # VARIABLE_RATE_SPREAD (a variable-frame-rate video, common from phones); None: even
  variable_intervals_ms: tuple[float, float] | None = None


def _quarter_turns(frame) -> int:
  """Counter-clockwise quarter turns that display a decoded frame upright: the container's
  display matrix (a phone filming in portrait stores landscape frames and a 90-degree
  rotation), as FFmpeg's own players apply it."""
  return int(round(float(getattr(frame, "rotation", 0) or 0) / 90.0)) % 4


def upright(image: np.ndarray, turns: int) -> np.ndarray:
  """A decoded (H, W, 3) frame turned as its display matrix says (np.rot90 = FFmpeg's
  autorotate)."""
  return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def probe(path: str) -> VideoInfo:
  """Frame rate, frame size and frame count without decoding the frames."""
  try:
    with av.open(path) as container:
      if not container.streams.video:
        raise VideoReadError(f"{path}: no video stream")
      stream = container.streams.video[0]
      rate = stream.average_rate or stream.guessed_rate or 0
      size = (int(stream.codec_context.height), int(stream.codec_context.width))
      count = int(stream.frames or 0)
      if not count:  # some containers (webm, some avi) do not store it: count the packets
        count = sum(1 for packet in container.demux(stream) if packet.size)
        container.seek(0)
      variable = _variable_intervals(container, stream)
      container.seek(0)
      turns = 0
      for frame in container.decode(video=0):  # the first frame carries the display matrix
        turns = _quarter_turns(frame)
        break
      if turns % 2:
        size = size[::-1]
  except VideoReadError:
    raise
  except Exception as e:  # noqa: BLE001 - av raises many error types for corrupt input
    raise VideoReadError(f"{path}: cannot read ({type(e).__name__}: {e})") from e
  if min(size) <= 0:
    raise VideoReadError(f"{path}: frames of size {size}")
  if variable:
    log.info("%s: variable frame rate (frame intervals %.0f to %.0f ms): read at a constant "
             "%.3g fps from the frames' timestamps", path, *variable, float(rate))
    count = _resampled_count(path, float(rate)) or count
  return VideoInfo(float(rate), size, count, 90 * turns, variable)


def _variable_intervals(container, stream) -> tuple[float, float] | None:
  """(5th, 95th percentile) of the intervals between the first packets' timestamps, in ms,
  when they spread by more than VARIABLE_RATE_SPREAD; None for an even rate or too few."""
  stamps = []
  for packet in container.demux(stream):
    if packet.pts is not None and packet.size:
      stamps.append(packet.pts)
    if len(stamps) >= _INTERVALS_READ:
      break
  if len(stamps) < 4 or stream.time_base is None:
    return None
  intervals = np.diff(np.sort(np.asarray(stamps, np.float64))) * float(stream.time_base) * 1e3
  intervals = intervals[intervals > 0]
  if len(intervals) < 3:
    return None
  low, high = np.percentile(intervals, [5, 95])
  return (float(low), float(high)) if high > VARIABLE_RATE_SPREAD * low else None


def _constant_rate(timed, rate: float):
  """(time s or None, item) in presentation order -> the items at a constant `rate`: output
  frame k is the input whose time is nearest to t0 + k / rate (a frame repeated where the
  input is sparse, dropped where it is dense), as FFmpeg's fps filter does. A constant-rate
  input comes out unchanged, one for one; an item without a time takes its predecessor's plus
  one interval."""
  step = 1.0 / rate
  previous = None  # (time, item)
  k = 0
  for time, item in timed:
    if previous is None:
      t0 = time if time is not None else 0.0
      previous = (t0, item)
      continue
    time = time if time is not None else previous[0] + step
    middle = (previous[0] + time) / 2
    while t0 + k * step <= middle + 1e-9:
      yield previous[1]
      k += 1
    previous = (time, item)
  if previous is not None:  # the last frame stands for its own interval
    while t0 + k * step <= previous[0] + step / 2 + 1e-9:
      yield previous[1]
      k += 1


def _resampled_count(path: str, rate: float) -> int:
  """How many frames a variable-rate video has at `rate`, from its packets' timestamps (no
  decoding)."""
  if rate <= 0:
    return 0
  try:
    with av.open(path) as container:
      stream = container.streams.video[0]
      base = float(stream.time_base or 0)
      times = sorted(p.pts * base for p in container.demux(stream)
                     if p.size and p.pts is not None)
  except Exception:  # noqa: BLE001 - the frames are counted as they decode instead
    return 0
  return sum(1 for _ in _constant_rate(((t, None) for t in times), rate))


def decodable_frames(path: str, info: VideoInfo | None = None) -> int:
  """How many frames of the video actually decode. The container's count is not trusted: old
  AVI files and truncated downloads claim frames that are not there. The packets are counted
  (reading, no decoding); where they fall short of the header, the frames are decoded to count
  them (a cut-off last packet does not decode)."""
  info = info or probe(path)
  try:
    with av.open(path) as container:
      stream = container.streams.video[0]
      packets = sum(1 for packet in container.demux(stream) if packet.size)
      if packets >= info.num_frames:
        return info.num_frames
      container.seek(0)
      return sum(1 for _ in container.decode(video=0))
  except Exception as e:  # noqa: BLE001 - av raises many error types for corrupt input
    raise VideoReadError(f"{path}: cannot read ({type(e).__name__}: {e})") from e


def iter_frames(path: str, frame_step: int = 1, max_frames: int | None = None,
                start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
  """The frames (every `frame_step`-th of source frames [start, stop)) of a video as uint8
  (H, W, 3), one at a time: memory does not grow with the video's length. VideoReadError if it
  cannot be decoded or has no frames of non-zero size; a file damaged part-way yields the
  frames before the damage."""
  count = 0
  try:
    with av.open(path) as container:
      if not container.streams.video:
        raise VideoReadError(f"{path}: no video stream")
      stream = container.streams.video[0]
      variable = _variable_intervals(container, stream)
      container.seek(0)
      frames = container.decode(video=0)
      rate = float(stream.average_rate or stream.guessed_rate or 0)
      if variable and rate > 0:  # a phone's variable rate, made constant from the timestamps
        frames = _constant_rate(((f.time, f) for f in frames), rate)
      for i, frame in enumerate(frames):
        if stop is not None and i >= stop:
          break
        if i < start or (i - start) % frame_step:
          continue
        image = upright(frame.to_ndarray(format="rgb24"), _quarter_turns(frame))
        if image.size == 0:
          raise VideoReadError(f"{path}: frame {i} has size 0")
        count += 1
        yield image
        if max_frames is not None and count >= max_frames:
          break
  except VideoReadError:
    raise
  except Exception as e:  # noqa: BLE001 - av raises many error types for corrupt input
    if not count:
      raise VideoReadError(f"{path}: cannot decode ({type(e).__name__}: {e})") from e
    # A truncated file: keep the frames decoded before the damage.
  if not count:
    raise VideoReadError(f"{path}: no frames")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def read_image(path: str) -> np.ndarray:
  """A photo as (H, W, 3) uint8, upright as a viewer shows it.

  Phones store a portrait photo as landscape pixels plus an EXIF orientation tag: Pillow's
  `exif_transpose` applies it. Pillow's convert('RGB') clips the integer greys of a 16-bit PNG
  ('I;16', 'I') at 255 (a white frame): they are scaled from their 16-bit range instead, and a
  float image ('F') from [0, 1]. VideoReadError if the file is not a readable image."""
  try:
    with Image.open(path) as image:
      image = ImageOps.exif_transpose(image)
      if image.mode.startswith("I") or image.mode == "F":
        values = np.asarray(image, np.float64)
        full = 1.0 if image.mode == "F" else 65535.0
        grey = np.clip(np.round(values * 255.0 / full), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
      return np.asarray(image.convert("RGB"))
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
    # SyntaxError: what Pillow raises for some malformed headers
    raise VideoReadError(f"{path}: not a readable image ({e})") from e


def _crop_geometry(size: tuple[int, int], height: int, width: int):
  h, w = size
  scale = max(height / h, width / w)
  new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
  return new_h, new_w, (new_h - height) // 2, (new_w - width) // 2


def resize_center_crop_frame(frame: np.ndarray, height: int, width: int) -> np.ndarray:
  """One (H, W, 3) uint8 frame scaled to cover (height, width), centre cropped."""
  new_h, new_w, top, left = _crop_geometry(frame.shape[:2], height, width)
  resized = np.asarray(Image.fromarray(frame).resize((new_w, new_h), Image.BILINEAR))
  return resized[top:top + height, left:left + width]


def resize_center_crop(frames: np.ndarray, height: int, width: int) -> np.ndarray:
  """Scale so the frame covers (height, width), then crop the centre. uint8 in and out."""
  out = np.empty((len(frames), height, width, 3), np.uint8)
  for i, frame in enumerate(frames):
    out[i] = resize_center_crop_frame(frame, height, width)
  return out


def _fit_geometry(size: tuple[int, int], height: int, width: int):
  h, w = size
  scale = min(height / h, width / w)
  new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
  return new_h, new_w, (height - new_h) // 2, (width - new_w) // 2


def fit_frame(frame: np.ndarray, height: int, width: int, fill: int = 0) -> np.ndarray:
  """One frame scaled to fit inside (height, width) and centred (letterbox): nothing cut off."""
  new_h, new_w, top, left = _fit_geometry(frame.shape[:2], height, width)
  out = np.full((height, width, 3), fill, np.uint8)
  out[top:top + new_h, left:left + new_w] = np.asarray(
      Image.fromarray(frame).resize((new_w, new_h), Image.BILINEAR))
  return out


def fit_points(points: np.ndarray, size: tuple[int, int], height: int, width: int) -> np.ndarray:
  """Pixel coordinates (..., 2) in a frame of `size` (h, w) -> where fit_frame puts them."""
  h, w = size
  new_h, new_w, top, left = _fit_geometry(size, height, width)
  out = np.array(points, np.float32, copy=True)
  out[..., 0] = (out[..., 0] + 0.5) * new_w / w - 0.5 + left
  out[..., 1] = (out[..., 1] + 0.5) * new_h / h - 0.5 + top
  return out


def resize_center_crop_points(points: np.ndarray, size: tuple[int, int], height: int,
                              width: int) -> np.ndarray:
  """Pixel coordinates (..., 2) = (x, y) in a frame of `size` (h, w) -> where
  resize_center_crop puts them in its (height, width) output."""
  h, w = size
  new_h, new_w, top, left = _crop_geometry(size, height, width)
  out = np.array(points, np.float32, copy=True)
  # PIL's resize maps pixel centres: x' + 0.5 = (x + 0.5) * new_w / w
  out[..., 0] = (out[..., 0] + 0.5) * new_w / w - 0.5 - left
  out[..., 1] = (out[..., 1] + 0.5) * new_h / h - 0.5 - top
  return out


def cut_clips(frames: np.ndarray, length: int, stride: int) -> Iterator[tuple[int, np.ndarray]]:
  """(start, clip) for every window of `length` frames, `stride` apart."""
  for start in range(0, frames.shape[0] - length + 1, stride):
    yield start, frames[start:start + length]


def stabilize_clip(clip: np.ndarray, min_inliers: int = 12) -> np.ndarray | None:
  """Warp every frame onto the first (chained RANSAC homographies between consecutive frames).

  Returns None if any pair of frames cannot be matched reliably.
  """
  import cv2
  orb = cv2.ORB_create(nfeatures=500)
  matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
  grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in clip]
  features = [orb.detectAndCompute(g, None) for g in grey]
  h, w = clip.shape[1:3]
  to_first = np.eye(3)
  out = [clip[0]]
  for i in range(1, len(clip)):
    (kp_prev, des_prev), (kp_cur, des_cur) = features[i - 1], features[i]
    if des_prev is None or des_cur is None or len(kp_prev) < 4 or len(kp_cur) < 4:
      return None
    matches = matcher.match(des_cur, des_prev)
    if len(matches) < min_inliers:
      return None
    src = np.float32([kp_cur[m.queryIdx].pt for m in matches])
    dst = np.float32([kp_prev[m.trainIdx].pt for m in matches])
    homography, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
    if homography is None or int(inliers.sum()) < min_inliers:
      return None
    to_first = to_first @ homography  # current -> previous -> ... -> first
    out.append(cv2.warpPerspective(clip[i], to_first, (w, h), borderMode=cv2.BORDER_REPLICATE))
  return np.stack(out)
