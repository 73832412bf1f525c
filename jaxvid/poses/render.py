"""Drawing: anti-aliased capsules, and stick-figure videos of COCO-18 poses.

`render_skeleton` makes the rendered skeleton video S_T that the pose-conditioned GAN (The Pose
Knows) and the pose-to-video generator (Everybody Dance Now) take as input: each limb a capsule
in its own colour on black, joints with a confidence below `min_confidence` left out. Poses in
the 'body_face_hands' layout (poses/keypoints.py) also get the face (8 white dots) and each
hand's 20 bones, half the limbs' thickness, as EDN's graphing draws them over the body.
"""
from __future__ import annotations

import colorsys

import numpy as np

from jaxvid.poses import keypoints as kp
from jaxvid.poses.keypoints import LIMBS

# One hue per limb, evenly spaced (OpenPose-style colour coding), RGB in [0, 1].
LIMB_COLOURS = tuple(colorsys.hsv_to_rgb(i / len(LIMBS), 1.0, 1.0) for i in range(len(LIMBS)))
# A hand's bones: one hue each along the hand (OpenPose's hand palette runs red to pink), a
# little darker than the limbs so the two never share a colour.
HAND_COLOURS = tuple(colorsys.hsv_to_rgb(i / len(kp.HAND_BONES), 0.8, 0.85)
                     for i in range(len(kp.HAND_BONES)))
DETAIL_SCALE = 0.5  # face dots and hand bones: half the limbs' radius (the code: 2 vs 4 px)


def segments(num_points: int) -> tuple[tuple[int, int, tuple, float], ...]:
  """What is drawn for poses of `num_points` points, in order: (point a, point b, RGB colour,
  radius scale); a == b is a dot."""
  layout = kp.layout_of(num_points)
  out = [(i, j, colour, 1.0) for (i, j), colour in zip(LIMBS, LIMB_COLOURS)]
  if layout == "body_face_hands":
    out += [(k, k, (1.0, 1.0, 1.0), DETAIL_SCALE)
            for k in range(kp.FACE_START, kp.FACE_START + len(kp.SPARSE_FACE))]
    for start in (kp.RIGHT_HAND_START, kp.LEFT_HAND_START):
      out += [(start + a, start + b, colour, DETAIL_SCALE)
              for (a, b), colour in zip(kp.HAND_BONES, HAND_COLOURS)]
  return tuple(out)


def _check(keypoints, leading: str) -> None:
  if (keypoints.ndim < 2 or keypoints.shape[-2] not in kp.LAYOUTS.values()
      or keypoints.shape[-1] not in (2, 3)):
    raise ValueError(f"keypoints must be ({leading}, 18 or 68, 2 or 3), got {keypoints.shape}")


def draw_capsule(canvas: np.ndarray, a, b, radius: float, colour, shading: float = 0.0,
                 weave: float = 0.0, texture_phase: float = 0.0) -> None:
  """Alpha-blend a capsule from point a to b ((x, y) pixels) onto a float (H, W, 3) canvas.

  shading darkens towards the rim (a round, cylinder-like look); weave adds stripes across the
  capsule (cloth texture). Edges are anti-aliased over one pixel. In place.
  """
  pad = radius + 2
  y0, y1 = int(max(min(a[1], b[1]) - pad, 0)), int(min(max(a[1], b[1]) + pad, canvas.shape[0]))
  x0, x1 = int(max(min(a[0], b[0]) - pad, 0)), int(min(max(a[0], b[0]) + pad, canvas.shape[1]))
  if y1 <= y0 or x1 <= x0:
    return
  py, px = np.mgrid[y0:y1, x0:x1].astype(np.float64)
  d = np.asarray(b, float) - np.asarray(a, float)
  length2 = max(float(d @ d), 1e-9)
  u = np.clip(((px - a[0]) * d[0] + (py - a[1]) * d[1]) / length2, 0, 1)
  dist = np.hypot(px - (a[0] + u * d[0]), py - (a[1] + u * d[1]))
  coverage = np.clip(radius - dist + 0.5, 0, 1)[..., None]
  factor = 1.0 - shading * (dist / max(radius, 1e-6)) ** 2
  if weave:
    factor = factor * (1.0 + weave * np.sin(u * np.sqrt(length2) * 0.9 + texture_phase))
  colour = np.clip(np.asarray(colour, float) * factor[..., None], 0, 1)
  region = canvas[y0:y1, x0:x1]
  region[:] = region * (1 - coverage) + colour * coverage


def _radius(radius: float, scale: float) -> float:
  return radius if scale == 1.0 else max(0.75, radius * scale)  # a detail stays >= 1.5 px wide


def render_skeleton(keypoints: np.ndarray, height: int, width: int,
                    thickness: float | None = None, min_confidence: float = 0.1) -> np.ndarray:
  """Poses (T, 18|68, 2|3) in pixels -> uint8 stick-figure video (T, height, width, 3)."""
  keypoints = np.asarray(keypoints, np.float64)
  _check(keypoints, "T")
  if keypoints.ndim != 3:
    raise ValueError(f"keypoints must be (T, 18 or 68, 2 or 3), got {keypoints.shape}")
  radius = thickness if thickness is not None else max(1.0, min(height, width) / 64)
  confident = (keypoints[..., 2] >= min_confidence if keypoints.shape[2] == 3
               else np.ones(keypoints.shape[:2], bool))
  frames = np.zeros((keypoints.shape[0], height, width, 3))
  for t in range(keypoints.shape[0]):
    for i, j, colour, scale in segments(keypoints.shape[1]):
      if confident[t, i] and confident[t, j]:
        draw_capsule(frames[t], keypoints[t, i, :2], keypoints[t, j, :2],
                     _radius(radius, scale), colour)
  return np.round(frames * 255).astype(np.uint8)


def render_skeleton_jax(keypoints, height: int, width: int, thickness: float | None = None,
                        min_confidence: float = 0.1):
  """`render_skeleton` in JAX, for use inside jitted steps: poses (..., 18, 2|3) in pixels ->
  float32 stick figures (..., height, width, 3) in [0, 1].

  The same capsules, colours and compositing order as the numpy version (tested to agree within
  one uint8 level); every limb is evaluated on the whole canvas, which is cheap at GAN sizes.
  """
  import jax.numpy as jnp  # local: the numpy renderer above must not need JAX

  keypoints = jnp.asarray(keypoints, jnp.float32)
  _check(keypoints, "...")
  radius = thickness if thickness else max(1.0, min(height, width) / 64)
  lead = keypoints.shape[:-2]
  confident = (keypoints[..., 2] >= min_confidence if keypoints.shape[-1] == 3
               else jnp.ones(keypoints.shape[:-1], bool))
  py = jnp.arange(height, dtype=jnp.float32)[:, None]
  px = jnp.arange(width, dtype=jnp.float32)[None, :]
  canvas = jnp.zeros(lead + (height, width, 3), jnp.float32)
  for i, j, colour, scale in segments(keypoints.shape[-2]):
    r = _radius(radius, scale)
    ax, ay = keypoints[..., i, 0, None, None], keypoints[..., i, 1, None, None]
    dx = keypoints[..., j, 0, None, None] - ax
    dy = keypoints[..., j, 1, None, None] - ay
    length2 = jnp.maximum(dx * dx + dy * dy, 1e-9)
    u = jnp.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0)
    dist = jnp.hypot(px - (ax + u * dx), py - (ay + u * dy))
    visible = (confident[..., i] & confident[..., j])[..., None, None]
    coverage = (jnp.clip(r - dist + 0.5, 0.0, 1.0) * visible)[..., None]
    canvas = canvas * (1.0 - coverage) + jnp.asarray(colour, jnp.float32) * coverage
  return canvas
