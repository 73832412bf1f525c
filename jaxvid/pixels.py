"""Pixel ranges: uint8 frames (0..255) as people and files hold them, float32 in [-1, 1] as the
models and metrics take them. The one place the conversion is written."""
from __future__ import annotations

import numpy as np


def to_unit_range(frames) -> np.ndarray:
  """uint8 0..255 -> float32 in [-1, 1]."""
  return np.asarray(frames, np.float32) / 127.5 - 1.0


def to_uint8(video) -> np.ndarray:
  """[-1, 1] floats (clipped) -> uint8 0..255, rounded."""
  return np.round((np.clip(np.asarray(video, np.float32), -1.0, 1.0) + 1.0) * 127.5).astype(
      np.uint8)
