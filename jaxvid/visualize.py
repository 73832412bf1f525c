"""Video grids and files (GIF, MP4) a person can look at: numpy, imageio (GIF), PyAV (MP4)."""
from __future__ import annotations

import os
from typing import Sequence

import imageio.v2 as imageio
import numpy as np
from PIL import Image, ImageDraw

from jaxvid import av_writer
from jaxvid.pixels import to_uint8, to_unit_range  # noqa: F401  (re-exported: the CLIs use both)


def tile(rows: Sequence[Sequence[np.ndarray]], border: int = 2, scale: int = 1,
         labels: Sequence[str] = ()) -> np.ndarray:
  """Grid of equally sized videos (T, H, W, C) in [-1, 1] -> one uint8 video (T, H', W', 3).

  Cells are separated by white borders; `scale` repeats pixels so tiny clips stay visible;
  `labels` names the columns in a header row.
  """
  cells = [[to_uint8(c) for c in row] for row in rows]
  frames, height, width, _ = cells[0][0].shape
  n_rows, n_cols = len(cells), max(len(r) for r in cells)
  grid = np.full((frames, border + n_rows * (height + border), border + n_cols * (width + border),
                  3), 255, np.uint8)
  for r, row in enumerate(cells):
    for c, cell in enumerate(row):
      if cell.shape[-1] == 1:
        cell = np.repeat(cell, 3, axis=-1)
      y, x = border + r * (height + border), border + c * (width + border)
      grid[:, y:y + height, x:x + width] = cell
  if scale > 1:
    grid = grid.repeat(scale, axis=1).repeat(scale, axis=2)
  if labels:
    header = _header(labels, grid.shape[2], scale * (width + border), scale * border)
    grid = np.concatenate([np.broadcast_to(header, (frames,) + header.shape), grid], axis=1)
  return grid


def _header(labels: Sequence[str], total_width: int, column_width: int, offset: int) -> np.ndarray:
  """A white strip with each column's name in black (PIL's built-in bitmap font)."""
  image = Image.new("RGB", (total_width, 14), (255, 255, 255))
  draw = ImageDraw.Draw(image)
  for c, label in enumerate(labels):
    draw.text((offset + c * column_width + 2, 2), label, fill=(0, 0, 0))
  return np.asarray(image)


class VideoWriter:
  """Frames appended in pieces to a .gif or .mp4 (H.264): long videos never sit in memory.

    with VideoWriter("out.mp4", fps=25) as writer:
      writer.append(frames_uint8)  # (T, H, W, 3), any number of times
  """

  def __init__(self, path: str, fps: float = 8, audio: av_writer.AudioFrom | None = None):
    """`audio`: an .mp4 gets that video's sound, in sync and trimmed to this one's length."""
    self.kind = os.path.splitext(path)[1].lower()  # .MP4 from a camera's habits too
    if self.kind not in (".gif", ".mp4"):
      raise ValueError(f"unsupported video extension for {path!r}: use .gif or .mp4")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    self.path, self.fps, self.frames = path, float(fps), 0
    if self.kind == ".gif":
      self._writer = imageio.get_writer(path, format="GIF", mode="I",
                                        duration=1000.0 / self.fps, loop=0)
    else:
      self._writer = av_writer.Mp4Writer(path, self.fps, audio)

  def append(self, video_uint8: np.ndarray) -> None:
    video = np.asarray(video_uint8, np.uint8)
    if self.kind == ".mp4":
      h, w = video.shape[1:3]
      if h % 2 or w % 2:  # yuv420p needs even sizes; pad with white rather than resample
        padded = np.full(video.shape[:1] + (h + h % 2, w + w % 2, 3), 255, np.uint8)
        padded[:, :h, :w] = video
        video = padded
      self._writer.append(video)
    else:
      for frame in video:
        self._writer.append_data(frame)
    self.frames += len(video)

  def close(self) -> None:
    self._writer.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def write_video(path: str, video_uint8: np.ndarray, fps: float = 8,
                audio: av_writer.AudioFrom | None = None) -> str:
  """Write a (T, H, W, 3) uint8 video as .gif or .mp4 (H.264, with `audio`'s sound) according
  to `path`."""
  with VideoWriter(path, fps, audio) as writer:
    writer.append(video_uint8)
  return path


def filmstrip(video_uint8: np.ndarray, max_frames: int = 8) -> np.ndarray:
  """(T, H, W, 3) -> one image with up to `max_frames` evenly spaced frames side by side."""
  idx = np.linspace(0, video_uint8.shape[0] - 1, min(max_frames, video_uint8.shape[0])).astype(int)
  return np.concatenate(list(video_uint8[idx]), axis=1)
