"""A street video's detections as a source for EDN transfer (issue 31): does the normalised
body stay inside the target's frame and keep the target's height?

  python -m experiments.street_outliers --workdir=runs/edn --out=/tmp/street [--seed=0]

Builds the poses a detector gives for a 640x360, 25 fps street clip (what a user brought, which
we do not have): a pedestrian ~60 px tall walking across the frame and away from the camera,
missed in 40 % of the frames; in 12 % the detector returns another, smaller passer-by
instead; and now and then a misdetection: a skeleton folded to 10 px (3 %; 25 % in the last
15 % of the frames, where the pedestrian is furthest), one upside down (2 %: negative
height), one with a joint off the frame (2 %); 1.5 px of jitter on every joint.
It writes them as SOURCE.npy, normalises them into the target's frame as `transfer` does, and
prints the share of confident joints inside the target's frame and each frame's normalised
height against the target's height at the same ground position (the close/far interpolation of
its training poses) for the frames where the pedestrian was found. The same .npy then goes
through the CLI:
  python -m jaxvid.transfer --workdir=runs/edn --source=/tmp/street/street.npy \
      --source_size=360x640 --output=/tmp/street/out.mp4
"""
from __future__ import annotations

import json
import os

import numpy as np
from absl import app, flags

from jaxvid.poses import normalize
from jaxvid.poses.keypoints import JOINT

SIZE = (360, 640)  # height, width
# Joint heights above the ankles (fraction of the person's height) and x offsets (fraction).
_BODY = {"nose": (0.94, 0.0), "neck": (0.84, 0.0), "r_eye": (0.96, -0.02), "l_eye": (0.96, 0.02),
         "r_ear": (0.95, -0.05), "l_ear": (0.95, 0.05), "r_shoulder": (0.82, -0.11),
         "l_shoulder": (0.82, 0.11), "r_elbow": (0.64, -0.14), "l_elbow": (0.64, 0.14),
         "r_wrist": (0.48, -0.13), "l_wrist": (0.48, 0.13), "r_hip": (0.5, -0.07),
         "l_hip": (0.5, 0.07), "r_knee": (0.27, -0.07), "l_knee": (0.27, 0.07),
         "r_ankle": (0.0, -0.07), "l_ankle": (0.0, 0.07)}


def person(ankle_x: float, ankle_y: float, height: float, stride: float = 0.0) -> np.ndarray:
  """(18, 3) a standing/walking person whose ankles are at (ankle_x, ankle_y)."""
  kp = np.zeros((18, 3))
  for name, (up, side) in _BODY.items():
    swing = stride * (1 if name.startswith("r_") else -1) if "ankle" in name or "knee" in name \
        or "wrist" in name else 0.0
    kp[JOINT[name]] = [ankle_x + (side + swing) * height, ankle_y - up * height, 1.0]
  return kp


def street_source(seed: int, frames: int = 200) -> tuple[np.ndarray, np.ndarray]:
  """(keypoints (T, 18, 3), the pedestrian's true frames (T,) bool)."""
  rng = np.random.default_rng(seed)
  t = np.arange(frames)
  horizon = 150.0
  ground = 330 - 70 * t / frames  # walking away: ankles rise towards the horizon
  height = 60 * (ground - horizon) / (330 - horizon)  # perspective: smaller further away
  x = 80 + 480 * t / frames
  out = np.zeros((frames, 18, 3))
  truth = np.zeros(frames, bool)
  kind = rng.choice(["miss", "other", "fold", "flip", "off", "ok"], size=frames,
                    p=[0.40, 0.12, 0.03, 0.02, 0.02, 0.41])
  # where the pedestrian is furthest and smallest, the detector folds them most often (25 %)
  far_end = t >= 0.85 * frames
  kind[far_end] = np.where(rng.random(far_end.sum()) < 0.25, "fold", kind[far_end])
  for i in range(frames):
    stride = 0.08 * np.sin(2 * np.pi * i / 14)
    walker = person(x[i], ground[i], height[i], stride)
    if kind[i] == "miss":
      continue
    if kind[i] == "other":  # a smaller passer-by on the far pavement
      out[i] = person(600 - 2 * i, 215.0, 28.0)
    elif kind[i] == "fold":
      out[i] = person(x[i], ground[i], 10.0)
    elif kind[i] == "flip":
      flipped = walker.copy()
      flipped[:, 1] = 2 * ground[i] - walker[:, 1] - height[i] * 0.2
      out[i] = flipped
    elif kind[i] == "off":
      out[i] = walker
      out[i, JOINT["r_wrist"], :2] = [x[i] - 400, ground[i] - 30]
    else:
      out[i], truth[i] = walker, True
    out[i, :, :2] += rng.normal(0, 1.5, (18, 2))
  return out.astype(np.float32), truth


def height_ratios(out: np.ndarray, target: normalize.VideoStats) -> np.ndarray:
  """(T,) each normalised frame's person height over the target's at the same ground position
  (its close/far heights interpolated as normalize does); NaN where a height is missing."""
  ankle_y, _ = normalize.ankles(out)
  u = (ankle_y - target.far) / (target.close - target.far)
  return normalize.person_heights(out) / (target.far_height
                                          + u * (target.close_height - target.far_height))


def main(argv):
  del argv
  import jaxvid
  from jaxvid.inference import edn as edn_lib
  f = flags.FLAGS
  os.makedirs(f.out, exist_ok=True)
  keypoints, truth = street_source(f.seed)
  path = os.path.join(f.out, "street.npy")
  np.save(path, keypoints)
  model = jaxvid.load(f.workdir)
  d = model.config.data
  src = edn_lib.Source(keypoints, SIZE, 25.0)
  out = model.to_target_frame(src, smooth_window=f.smooth_window)
  inside = edn_lib.inside_fraction(out, d.height, d.width)
  target = normalize.video_stats(model.target_poses(), 0.7)
  target = normalize.recentered(target, normalize.video_stats(keypoints, 0.7, frame_size=SIZE))
  ratio = height_ratios(out, target)
  ratio = ratio[truth & np.isfinite(ratio)]
  report = {"frames": int(len(keypoints)), "pedestrian frames": int(truth.sum()),
            "confident joints inside the target's frame": float(inside),
            "height / target's height, median": float(np.median(ratio)),
            "height within 15 % of the target's, share of pedestrian frames":
                float(np.mean(np.abs(ratio - 1) <= 0.15)),
            "target": {"far": target.far, "close": target.close,
                       "far_height": target.far_height, "close_height": target.close_height},
            "source_npy": path}
  print(json.dumps(report, indent=1))
  with open(os.path.join(f.out, "report.json"), "w") as fh:
    json.dump(report, fh, indent=1)


if __name__ == "__main__":
  flags.DEFINE_string("workdir", "runs/edn", "a trained edn workdir")
  flags.DEFINE_string("out", "/tmp/street", "folder for street.npy and report.json")
  flags.DEFINE_integer("seed", 0, "seed of the detections")
  flags.DEFINE_integer("smooth_window", 7, "transfer's --smooth_window")
  app.run(main)
