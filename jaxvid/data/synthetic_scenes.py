"""The embedded default dataset for VGAN: sprites moving over static textured backgrounds.

Made locally, no download. Every clip is a pure function of (seed, index), so any split can be
regenerated bit for bit, and a data iterator's whole state is one integer. Each scene has a
static, textured background (smooth colour field + oriented stripes) and 1-3 sprites (disks,
squares, rings) that move with constant velocity and bounce off the borders: exactly the
static-camera / moving-foreground structure VGAN's two streams are built to separate.
"""
from __future__ import annotations

import numpy as np


def _smooth_field(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
  """A smooth random field in [0, 1]: bilinear upsampling of a cells x cells grid."""
  grid = rng.random((cells + 1, cells + 1))
  ys = np.linspace(0, cells, height)
  xs = np.linspace(0, cells, width)
  y0 = np.minimum(ys.astype(int), cells - 1)
  x0 = np.minimum(xs.astype(int), cells - 1)
  fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
  top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
  bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
  return top * (1 - fy) + bottom * fy


def background(rng: np.random.Generator, height: int, width: int,
               stripes: float = 0.08) -> np.ndarray:
  """A static textured background in [0, 1]: a smooth two-colour field plus faint stripes of
  amplitude `stripes` (also the synthetic dancer's scenes). The random draws do not depend on
  `stripes`, so 0 gives the same scenes without their stripes."""
  colour_a, colour_b = rng.uniform(0.1, 0.9, (2, 3))
  blend = _smooth_field(rng, height, width, cells=3)[..., None]
  image = colour_a * (1 - blend) + colour_b * blend
  angle = rng.uniform(0, np.pi)
  period = rng.uniform(0.15, 0.35) * min(height, width)
  yy, xx = np.mgrid[0:height, 0:width]
  wave = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
  image = image + stripes * wave[..., None]
  return np.clip(image, 0.0, 1.0)


def _bounce(start: np.ndarray, velocity: np.ndarray, frames: int, low: np.ndarray,
            high: np.ndarray) -> np.ndarray:
  """Positions (frames, 2) of a point moving at constant velocity, reflected at [low, high]."""
  span = high - low
  raw = start - low + velocity * np.arange(frames)[:, None]
  folded = np.mod(raw, 2 * span)
  return low + np.where(folded > span, 2 * span - folded, folded)


DIRECTIONS = ("right", "down", "left", "up")  # the classes of `direction_class`


def direction_class(angle: float) -> int:
  """A sprite's starting direction (radians; 0 = right, pi/2 = down in image rows) -> the
  index into DIRECTIONS of the quarter it points into."""
  return int(np.floor((angle + np.pi / 4) / (np.pi / 2))) % 4


def render_clip(seed: int, index: int, frames: int, height: int, width: int,
                max_sprites: int = 3, with_mask: bool = False, stripes: float = 0.08,
                with_direction: bool = False):
  """Clip `index` of the dataset made from `seed`: uint8 array (frames, height, width, 3).
  With `with_mask`, also the true sprite coverage (frames, height, width) in [0, 1] (the union
  of the sprites' anti-aliased footprints): the mask VGAN's foreground stream should find.
  `stripes`: the background stripes' amplitude (`background`). With `with_direction`, also
  the first sprite's starting direction (`direction_class`): a label no single frame tells."""
  rng = np.random.default_rng([seed, index])
  scene = background(rng, height, width, stripes)
  video = np.broadcast_to(scene, (frames, height, width, 3)).copy()
  sprites = np.zeros((frames, height, width, 1))
  yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
  size = min(height, width)
  first_angle = None
  for _ in range(rng.integers(1, max_sprites + 1)):
    radius = rng.uniform(0.09, 0.18) * size
    low = np.array([radius, radius])
    high = np.array([height - radius, width - radius])
    start = rng.uniform(low, high)
    speed = rng.uniform(0.03, 0.07) * size
    angle = rng.uniform(0, 2 * np.pi)
    first_angle = angle if first_angle is None else first_angle
    path = _bounce(start, speed * np.array([np.sin(angle), np.cos(angle)]), frames, low, high)
    dy = yy[None] - path[:, 0, None, None]
    dx = xx[None] - path[:, 1, None, None]
    shape = rng.integers(3)
    if shape == 0:  # disk
      distance = np.sqrt(dy ** 2 + dx ** 2)
    elif shape == 1:  # square
      distance = np.maximum(np.abs(dy), np.abs(dx))
    else:  # ring: a disk with a hole
      distance = np.sqrt(dy ** 2 + dx ** 2)
      distance = np.where(distance < 0.5 * radius, 2 * radius - distance, distance)
    coverage = np.clip(radius - distance + 0.5, 0.0, 1.0)[..., None]  # anti-aliased edge
    colour = rng.uniform(0.0, 1.0, 3)
    shading = 0.75 + 0.25 * np.clip(1 - (dy + dx)[..., None] / (2 * radius), 0, 2) / 2
    video = video * (1 - coverage) + coverage * np.clip(colour * shading, 0, 1)
    sprites = np.maximum(sprites, coverage)
  video = np.round(video * 255).astype(np.uint8)
  out = (video, sprites[..., 0].astype(np.float32)) if with_mask else (video,)
  if with_direction:
    out += (direction_class(first_angle),)
  return out if len(out) > 1 else video


def to_model_range(clips_uint8: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [-1, 1]."""
  return clips_uint8.astype(np.float32) / 127.5 - 1.0
