"""A synthetic dancer: an articulated 2-D figure with ground-truth COCO-18 keypoints.

The embedded default for The Pose Knows and Everybody Dance Now. Every clip is a pure function
of (seed, index, size): a subject (body proportions, height, clothes) dances a smooth periodic
motion (arm swings, knee bends, hip bounce and sway, a slow walk toward or away from the camera)
in front of a static textured background. Limbs are shaded, textured capsules.

Keypoints are in the OpenPose COCO-18 order (`COCO18_NAMES`), pixel coordinates (x, y) plus a
confidence of 1, and the face box is (x0, y0, x1, y1) in pixels.

`branching=True` makes futures that a past cannot tell: up to frame `branch_frame(k)` the clip
is the usual dance; from there on one of `BRANCH_MOVES` is added on top of it (arms raised, a
crouch, a step to the side), chosen from a random stream of its own, so nothing visible before
the branch says which. Its timing counts pose steps of `k = step_frames` video frames (the
pose-VAE's `frames_per_step`): the branch after the code's 2 past steps, the move complete 5
steps later. Each clip stores its mode and all K continuations (The Pose Knows'
pose-VAE must sample all of them, in their proportions).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from jaxvid.data import synthetic_scenes
from jaxvid.poses.keypoints import COCO18_NAMES
from jaxvid.poses.keypoints import JOINT as J
from jaxvid.poses.render import draw_capsule


@dataclasses.dataclass(frozen=True)
class Subject:
  """Body proportions as fractions of the standing height, and clothes colours (RGB 0-1)."""
  height: float  # standing height as a fraction of the frame height (at the nearest position)
  shoulder_width: float
  hip_width: float
  torso: float  # neck -> hip centre
  upper_arm: float
  forearm: float
  thigh: float
  shin: float
  head_radius: float
  limb_width: float
  shirt: tuple
  pants: tuple
  skin: tuple


SUBJECTS = (
    Subject(0.78, 0.24, 0.17, 0.30, 0.17, 0.15, 0.24, 0.24, 0.065, 0.045,
            (0.80, 0.15, 0.15), (0.15, 0.20, 0.45), (0.93, 0.76, 0.62)),
    Subject(0.62, 0.30, 0.22, 0.30, 0.16, 0.14, 0.22, 0.22, 0.075, 0.060,
            (0.15, 0.60, 0.30), (0.30, 0.25, 0.20), (0.55, 0.38, 0.26)),
    Subject(0.70, 0.22, 0.18, 0.32, 0.18, 0.16, 0.23, 0.23, 0.060, 0.040,
            (0.95, 0.80, 0.20), (0.10, 0.10, 0.10), (0.78, 0.57, 0.44)),
    Subject(0.85, 0.27, 0.19, 0.29, 0.17, 0.15, 0.25, 0.25, 0.065, 0.050,
            (0.35, 0.30, 0.80), (0.45, 0.45, 0.45), (0.98, 0.86, 0.75)),
)


def _rot(angle):
  """Unit vector pointing down (image y grows downward) rotated by `angle` (radians)."""
  return np.stack([np.sin(angle), np.cos(angle)], axis=-1)


BRANCH_MOVES = ("arms_up", "crouch", "step_aside")
BRANCH_STEP = 2  # the last shared pose step: the code's 2 past steps end here
MOVE_STEPS = 5  # a move is complete 5 steps after the branch (the code's 5 future steps)


def branch_frame(step_frames: int = 1) -> int:
  """The last frame every move shares, with pose steps of `step_frames` video frames."""
  return BRANCH_STEP * step_frames


BRANCH_FRAME = branch_frame(1)


def _move_ramps(move: str | None, frames: int, step_frames: int = 1) -> dict:
  """Per-frame extra joint angles / offsets of a branch move: 0 up to the branch frame, then a
  linear ramp to the full move over MOVE_STEPS steps."""
  ramp = np.clip((np.arange(frames) - branch_frame(step_frames)) / (MOVE_STEPS * step_frames),
                 0.0, 1.0)
  zero = np.zeros(frames)
  return {"arm_raise": 1.7 * ramp if move == "arms_up" else zero,
          "crouch": 1.5 * ramp if move == "crouch" else zero,
          "shift": 0.2 * ramp if move == "step_aside" else zero}


def dance_keypoints(subject: Subject, rng: np.random.Generator, frames: int, height: int,
                    width: int, move: str | None = None,
                    step_frames: int = 1) -> tuple[np.ndarray, np.ndarray]:
  """Keypoints (frames, 18, 2) in pixels and the per-frame scale (frames,). `move` (one of
  BRANCH_MOVES) is added from branch_frame(step_frames) on; it draws nothing from `rng`."""
  extra = _move_ramps(move, frames, step_frames)
  t = np.arange(frames, dtype=np.float64)
  omega = 2 * np.pi / rng.uniform(10, 24)  # one dance period every 10-24 frames
  ph = rng.uniform(0, 2 * np.pi, 8)
  amp_arm = rng.uniform(0.5, 1.4)
  amp_leg = rng.uniform(0.1, 0.35)
  # Walk toward/away from the camera: the ground line moves and the body scales with it.
  ground0, ground1 = rng.uniform(0.80, 0.97, 2) * height
  ground = ground0 + (ground1 - ground0) * t / max(frames - 1, 1)
  scale = subject.height * height * (0.55 + 0.45 * (ground / height - 0.5) / 0.5)  # px per body
  x_centre = (rng.uniform(0.35, 0.65) + extra["shift"]) * width \
      + 0.04 * width * np.sin(omega * t / 2 + ph[0])
  bounce = 0.02 * scale * np.cos(2 * omega * t + ph[1])
  lean = 0.08 * np.sin(omega * t + ph[2])

  s = scale[:, None]
  shin, thigh = subject.shin * s, subject.thigh * s
  knee_bend = amp_leg * (1 + np.sin(2 * omega * t + ph[3])) / 2 + extra["crouch"]
  hip_y = ground - (shin[:, 0] + thigh[:, 0]) * np.cos(knee_bend / 2) + bounce
  hip = np.stack([x_centre, hip_y], -1)
  up = -_rot(lean)  # from hip centre towards the neck
  neck = hip + up * subject.torso * s
  across = np.stack([np.cos(lean), -np.sin(lean)], -1)  # body's left-right axis
  kp = np.zeros((frames, 18, 2))
  kp[:, J["neck"]] = neck
  kp[:, J["r_shoulder"]] = neck - across * subject.shoulder_width / 2 * s
  kp[:, J["l_shoulder"]] = neck + across * subject.shoulder_width / 2 * s
  kp[:, J["r_hip"]] = hip - across * subject.hip_width / 2 * s
  kp[:, J["l_hip"]] = hip + across * subject.hip_width / 2 * s
  for side, sign, phase in (("r", -1.0, ph[4]), ("l", 1.0, ph[5])):
    shoulder_angle = sign * (0.3 + amp_arm * (1 + np.sin(omega * t + phase)) / 2
                             + extra["arm_raise"])
    elbow_angle = shoulder_angle + sign * 0.8 * (1 + np.sin(omega * t + phase + 1.0)) / 2
    elbow = kp[:, J[f"{side}_shoulder"]] + _rot(shoulder_angle + lean) * subject.upper_arm * s
    kp[:, J[f"{side}_elbow"]] = elbow
    kp[:, J[f"{side}_wrist"]] = elbow + _rot(elbow_angle + lean) * subject.forearm * s
    step = sign * 0.15 * np.sin(omega * t + ph[6] + (0 if side == "r" else np.pi))
    hip_joint = kp[:, J[f"{side}_hip"]]
    knee = hip_joint + _rot(step - sign * knee_bend / 2 * 0.3 + knee_bend / 2) * thigh
    kp[:, J[f"{side}_knee"]] = knee
    ankle = knee + _rot(step - knee_bend / 2) * shin
    kp[:, J[f"{side}_ankle"]] = ankle
  head_r = subject.head_radius * s
  head = neck + up * (head_r * 1.25)
  turn = 0.3 * np.sin(omega * t / 2 + ph[7])  # head turning left/right
  kp[:, J["nose"]] = head + across * turn[:, None] * head_r + up * 0.1 * head_r
  for side, sign in (("r", -1.0), ("l", 1.0)):
    kp[:, J[f"{side}_eye"]] = head + across * (sign * 0.4 + turn[:, None]) * head_r + up * 0.35 * head_r
    kp[:, J[f"{side}_ear"]] = head + across * (sign * 0.95 + 0.5 * turn[:, None]) * head_r
  return kp, scale


# Limbs as capsules (joint a, joint b, radius as a fraction of limb_width, clothes part),
# drawn back to front: left limbs (far side) first, then torso and head, then right limbs.
_LIMBS = (
    ("l_hip", "l_knee", 1.2, "pants"), ("l_knee", "l_ankle", 1.0, "pants"),
    ("l_shoulder", "l_elbow", 1.0, "shirt"), ("l_elbow", "l_wrist", 0.85, "skin"),
    ("r_hip", "r_knee", 1.2, "pants"), ("r_knee", "r_ankle", 1.0, "pants"),
)
_FRONT_LIMBS = (("r_shoulder", "r_elbow", 1.0, "shirt"), ("r_elbow", "r_wrist", 0.85, "skin"))


def _capsule(canvas, a, b, radius, colour, texture_phase):
  """A body part: shaded like a cylinder, with a cloth weave."""
  draw_capsule(canvas, a, b, radius, colour, shading=0.45, weave=0.06, texture_phase=texture_phase)


def render_frame(background, keypoints, scale, subject: Subject, texture_phase: float):
  canvas = background.copy()
  width = subject.limb_width * scale
  colours = {"shirt": subject.shirt, "pants": subject.pants, "skin": subject.skin}
  kp = {name: keypoints[i] for i, name in enumerate(COCO18_NAMES)}
  for a, b, r, part in _LIMBS:
    _capsule(canvas, kp[a], kp[b], r * width, colours[part], texture_phase)
  # torso: a thick capsule from neck to hip centre, plus the shoulder and hip lines
  hip_centre = (kp["r_hip"] + kp["l_hip"]) / 2
  torso_r = (subject.shoulder_width + subject.hip_width) / 4 * scale
  _capsule(canvas, kp["neck"], hip_centre, torso_r, subject.shirt, texture_phase)
  _capsule(canvas, kp["r_shoulder"], kp["l_shoulder"], width, subject.shirt, texture_phase)
  _capsule(canvas, kp["r_hip"], kp["l_hip"], 1.2 * width, subject.pants, texture_phase)
  head = (kp["r_ear"] + kp["l_ear"]) / 2
  _capsule(canvas, kp["neck"], head, 0.5 * width, subject.skin, 0.0)
  _capsule(canvas, head, head, subject.head_radius * scale, subject.skin, 0.0)
  for name in ("r_eye", "l_eye"):
    _capsule(canvas, kp[name], kp[name], max(0.12 * subject.head_radius * scale, 0.6),
             (0.1, 0.1, 0.1), 0.0)
  for a, b, r, part in _FRONT_LIMBS:
    _capsule(canvas, kp[a], kp[b], r * width, colours[part], texture_phase)
  return canvas


def _with_confidence(keypoints: np.ndarray) -> np.ndarray:
  return np.concatenate([keypoints, np.ones(keypoints.shape[:-1] + (1,))], -1).astype(np.float32)


def render_clip(seed: int, index: int, frames: int, height: int, width: int,
                subject_id: int | None = None, scene_per_subject: bool = False,
                branching: bool = False, step_frames: int = 1) -> dict:
  """Clip `index`: {'video' uint8 (T,H,W,3), 'keypoints' float32 (T,18,3) = (x_px, y_px, conf),
  'face_box' float32 (T,4) = (x0, y0, x1, y1) px, 'subject_id' int32}. With scene_per_subject
  every clip of a subject has the same background (one target video, as EDN assumes). With
  branching also 'mode' int32 (the index in BRANCH_MOVES of the move this clip makes) and
  'branch_keypoints' float32 (K, T, 18, 3): every move's keypoints, the clip's own at 'mode'."""
  rng = np.random.default_rng([seed, index, 1])
  if subject_id is None:
    subject_id = int(rng.integers(len(SUBJECTS)))
  subject = SUBJECTS[subject_id]
  scene_rng = np.random.default_rng([seed, subject_id, 2]) if scene_per_subject else rng
  background = synthetic_scenes.background(scene_rng, height, width)
  floor = np.linspace(0, 1, height)[:, None, None] > 0.75
  background = np.where(floor, 0.6 * background + 0.25, background)
  mode = None
  if branching:  # its own stream: nothing drawn for the past depends on it
    mode = int(np.random.default_rng([seed, index, 3]).integers(len(BRANCH_MOVES)))
    state = rng.bit_generator.state  # every move continues the same dance
    branches = []
    for move in BRANCH_MOVES:
      rng.bit_generator.state = state
      branches.append(dance_keypoints(subject, rng, frames, height, width, move, step_frames))
    keypoints, scale = branches[mode]
  else:
    keypoints, scale = dance_keypoints(subject, rng, frames, height, width)
  texture_phase = rng.uniform(0, 2 * np.pi)
  video = np.stack([render_frame(background, keypoints[f], scale[f], subject, texture_phase)
                    for f in range(frames)])
  head = (keypoints[:, J["r_ear"]] + keypoints[:, J["l_ear"]]) / 2
  half = 1.6 * subject.head_radius * scale
  face_box = np.stack([head[:, 0] - half, head[:, 1] - half, head[:, 0] + half,
                       head[:, 1] + half], -1)
  clip = {"video": np.round(video * 255).astype(np.uint8),
          "keypoints": _with_confidence(keypoints),
          "face_box": face_box.astype(np.float32), "subject_id": np.int32(subject_id)}
  if branching:
    clip["mode"] = np.int32(mode)
    clip["branch_keypoints"] = np.stack([_with_confidence(k) for k, _ in branches])
  return clip


def with_face_hands(keypoints: np.ndarray) -> np.ndarray:
  """(T, 18, 3) body -> (T, 68, 3) in the 'body_face_hands' layout (poses/keypoints.py): the
  face's 8 points placed from the head joints, and an open hand at each wrist along its forearm
  (the dancer's drawing has no fingers: the points are as a detector would put them on a hand
  of that size and direction)."""
  from jaxvid.poses import keypoints as layout
  kp = np.asarray(keypoints, np.float32)
  xy, conf = kp[..., :2], kp[..., 2:]
  eyes = (xy[:, J["r_eye"]] + xy[:, J["l_eye"]]) / 2
  nose = xy[:, J["nose"]]
  down = nose - eyes  # from between the eyes to the nose tip
  face = np.stack([eyes, nose, nose + 1.6 * down, xy[:, J["r_ear"]], xy[:, J["l_ear"]],
                   nose + 0.3 * down, xy[:, J["r_eye"]], xy[:, J["l_eye"]]], 1)
  head_conf = conf[:, [J["nose"], J["r_eye"], J["l_eye"], J["r_ear"], J["l_ear"]]].min(1)
  parts = [kp, np.concatenate([face, np.repeat(head_conf[:, None], 8, 1)], -1)]
  # a hand: fingers fanned across the forearm's direction; (along, across) in forearm lengths
  bases = {1: (0.12, 0.12), 5: (0.22, 0.08), 9: (0.24, 0.02), 13: (0.22, -0.04),
           17: (0.19, -0.09)}
  for side in ("r", "l"):
    wrist, elbow = xy[:, J[f"{side}_wrist"]], xy[:, J[f"{side}_elbow"]]
    along = wrist - elbow
    across = np.stack([-along[:, 1], along[:, 0]], -1) * (1 if side == "r" else -1)
    hand = np.zeros((len(kp), layout.HAND_POINTS, 2), np.float32)
    hand[:, 0] = wrist
    for base, (a, c) in bases.items():
      for k in range(4):
        reach = a + 0.07 * k if base > 1 else a + 0.05 * k
        hand[:, base + k] = wrist + reach * along + (c + (0.03 * k if base == 1 else 0)) * across
    hand_conf = conf[:, [J[f"{side}_wrist"], J[f"{side}_elbow"]]].min(1)
    parts.append(np.concatenate([hand, np.repeat(hand_conf[:, None], layout.HAND_POINTS, 1)],
                                -1))
  return np.concatenate(parts, 1).astype(np.float32)
