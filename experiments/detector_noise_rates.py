"""The rates of jaxvid.poses.detector_noise, measured: MediaPipe on rendered dancer clips.

  python -m experiments.detector_noise_rates --size=64 --clips=16 --frames=32

Renders held-out synthetic-dancer clips (the EDN demo's dataset generator) at --size, runs the
pose extractor on each as `python -m jaxvid.extract` does (tracking, crop search, gaps of <= 5
frames filled), and compares with the true keypoints. Prints one JSON object: the share of
frames without a detection, per joint the share below confidence 0.1 and the jitter (the RMS
frame-to-frame change of the joint's error, / sqrt 2, as a fraction of the person's height,
each frame labelled left/right the way that fits it better), and the share of frames where the
swapped labelling fits better.
"""
from __future__ import annotations

import json

import numpy as np
from absl import app, flags

from jaxvid.data import synthetic_dancer
from jaxvid.poses import detector_noise
from jaxvid.poses.extract import PoseExtractor
from jaxvid.poses.keypoints import COCO18_NAMES, MIRROR

flags.DEFINE_integer("size", 64, "frame height and width (px)")
flags.DEFINE_integer("clips", 16, "clips")
flags.DEFINE_integer("frames", 32, "frames per clip")
flags.DEFINE_integer("seed", 1234, "the dancer dataset's seed (clips from index 100_000 on)")


def measure(size: int, clips: int, frames: int, seed: int) -> dict:
  truth, found, detected = [], [], []
  for i in range(clips):
    clip = synthetic_dancer.render_clip(seed, 100_000 + i, frames, size, size)
    extractor = PoseExtractor()  # a fresh tracker per clip, as per video
    poses = extractor.video(clip["video"])
    extractor.close()
    truth.append(clip["keypoints"])
    found.append(poses.keypoints)
    detected.append(poses.detected | poses.filled)
  truth, found, detected = np.stack(truth), np.stack(found), np.stack(detected)
  height = detector_noise.extent_heights(truth)[..., None]  # (N, T, 1)
  error = lambda labels: (found[..., :2] - truth[..., labels, :2]) / height[..., None]
  same, mirrored = error(list(range(len(COCO18_NAMES)))), error(list(MIRROR))
  confident = (found[..., 2] >= 0.1) & detected[..., None]
  cost = lambda e: np.where(confident, np.linalg.norm(e, axis=-1), 0).sum(-1)
  swapped = cost(mirrored) < cost(same)  # (N, T)
  best = np.where(swapped[..., None, None], mirrored, same)
  both = confident[:, 1:] & confident[:, :-1]
  change = np.diff(best, axis=1)  # (N, T-1, J, 2)
  jitter = np.sqrt((np.where(both[..., None], change, 0) ** 2).sum((0, 1, 3))
                   / np.maximum(2 * both.sum((0, 1)), 1)) / np.sqrt(2)
  frames_seen = detected.sum()
  return {"size": size, "clips": clips, "frames": frames,
          "person_height_px": float(height.mean()),
          "frame_miss": float(1 - detected.mean()),
          "swap": float(swapped[detected].mean()),
          "joint_miss": [round(float(1 - confident[..., j].sum() / frames_seen), 4)
                         for j in range(len(COCO18_NAMES))],
          "jitter": [round(float(v), 4) for v in jitter]}


def main(argv):
  del argv
  f = flags.FLAGS
  print(json.dumps(measure(f.size, f.clips, f.frames, f.seed)))


if __name__ == "__main__":
  app.run(main)
