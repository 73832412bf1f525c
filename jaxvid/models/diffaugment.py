"""Differentiable augmentation of D's inputs (DiffAugment, Zhao, Liu, Lin, Zhu, Han, NeurIPS 2020).

The same random transform goes to real and generated clips before D sees them, in D's step and
in G's, and it is differentiable so G learns through it; D then cannot tell real from fake by
details the augmentation destroys, which keeps it from memorising a small dataset. For videos
one transform per clip, the same for all its frames (a shift that changed from frame to frame
would be motion). The policies, as the paper's code defines them for images in [-1, 1]:

  color        brightness + U(-0.5, 0.5); saturation x (U(0, 1) * 2) about the colour mean;
               contrast x (U(0, 1) + 0.5) about the clip's mean
  translation  a shift of up to 1/8 of the height and width, zeros shifted in
  cutout       a zeroed square of half the height and width at a random centre
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
  names = tuple(p.strip() for p in policy.split(",") if p.strip())
  unknown = [p for p in names if p not in POLICIES]
  if unknown:
    raise ValueError(f"DiffAugment policies are {', '.join(POLICIES)}; got {unknown}")
  return names


def _color(key, x):
  b = x.shape[0]
  k1, k2, k3 = jax.random.split(key, 3)
  shape = (b,) + (1,) * (x.ndim - 1)
  x = x + (jax.random.uniform(k1, shape, x.dtype) - 0.5)
  mean = jnp.mean(x, axis=-1, keepdims=True)
  x = (x - mean) * (jax.random.uniform(k2, shape, x.dtype) * 2.0) + mean
  mean = jnp.mean(x, axis=tuple(range(1, x.ndim)), keepdims=True)
  return (x - mean) * (jax.random.uniform(k3, shape, x.dtype) + 0.5) + mean


def _translation(key, x, ratio: float = 0.125):
  """x (B, T, H, W, C): each clip shifted by whole pixels, zeros coming in."""
  b, _, h, w, _ = x.shape
  sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  ky, kx = jax.random.split(key)
  dy = jax.random.randint(ky, (b,), -sh, sh + 1)
  dx = jax.random.randint(kx, (b,), -sw, sw + 1)
  padded = jnp.pad(x, ((0, 0), (0, 0), (sh, sh), (sw, sw), (0, 0)))

  def shift(clip, oy, ox):
    return jax.lax.dynamic_slice(clip, (0, sh - oy, sw - ox, 0), clip.shape[:1] + (h, w) +
                                 clip.shape[-1:])
  return jax.vmap(shift)(padded, dy, dx)


def _cutout(key, x, ratio: float = 0.5):
  b, _, h, w, _ = x.shape
  ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  ky, kx = jax.random.split(key)
  cy = jax.random.randint(ky, (b, 1, 1), 0, h + (1 - ch % 2))
  cx = jax.random.randint(kx, (b, 1, 1), 0, w + (1 - cw % 2))
  ys, xs = jnp.arange(h)[None, :, None], jnp.arange(w)[None, None, :]
  inside = ((ys >= cy - ch // 2) & (ys < cy - ch // 2 + ch) & (xs >= cx - cw // 2)
            & (xs < cx - cw // 2 + cw))  # (B, H, W)
  return x * (~inside)[:, None, :, :, None].astype(x.dtype)


def diff_augment(key, x: jax.Array, policy: tuple[str, ...]) -> jax.Array:
  """x (B, T, H, W, C) in [-1, 1] (images: T = 1) -> the augmented clips, differentiable in x."""
  ops = {"color": _color, "translation": _translation, "cutout": _cutout}
  for name, k in zip(policy, jax.random.split(key, max(len(policy), 1))):
    x = ops[name](k, x)
  return x
