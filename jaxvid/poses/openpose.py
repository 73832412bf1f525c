"""Read OpenPose JSON output (one `*_keypoints.json` per frame) into COCO-18 keypoints.

OpenPose writes, per frame, {"people": [{"pose_keypoints_2d": [x, y, c, ...], ...}, ...]}:
75 numbers for the BODY_25 model, 54 for COCO (18 joints), in pixels, c = 0 for missing
joints. BODY_25 -> COCO-18 keeps joints 0-7 (nose, neck, arms), drops MidHip (8) and the feet
(19-24), and takes 9-18 for hips, knees, ankles, eyes and ears: [0..7, 9..18].
With several people in a frame, the one whose neck (else mean joint) is nearest the person of
the previous frame is followed (the first frame: the most confident one). Frames without
people get confidence 0. Face boxes come from `face_keypoints_2d` when OpenPose wrote them
(confident points' bounds, squared), else from the head joints (extract.face_box).
Face and hand points, where written, are kept as Everybody Dance Now's graphing draws them
(`details`, poses/keypoints.py): the 8 sparse face points when the 70 points' mean confidence is
>= 0.2 (renderface_sparse), each hand's points of confidence > 0.05 (renderhand); those drawn
get confidence 1, the rest 0.
"""
from __future__ import annotations

import glob
import json
import os

import numpy as np

from jaxvid.errors import UserError
from jaxvid.poses.extract import Poses, face_box
from jaxvid.poses import keypoints as layout
from jaxvid.poses.keypoints import JOINT, NUM_JOINTS

BODY25_TO_COCO18 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)


def person_keypoints(person: dict, path: str) -> np.ndarray:
  values = np.asarray(person.get("pose_keypoints_2d", []), np.float32)
  if values.size == 75:
    return values.reshape(25, 3)[list(BODY25_TO_COCO18)]
  if values.size == 54:
    return values.reshape(18, 3)
  raise UserError(f"{path}: pose_keypoints_2d has {values.size} numbers; expected 75 "
                  f"(BODY_25) or 54 (COCO-18)")


def _anchor(kp: np.ndarray) -> np.ndarray | None:
  if kp[JOINT["neck"], 2] > 0:
    return kp[JOINT["neck"], :2]
  ok = kp[:, 2] > 0
  return kp[ok, :2].mean(0) if ok.any() else None


def _face_box_from_face_points(person: dict) -> np.ndarray | None:
  face = np.asarray(person.get("face_keypoints_2d", []), np.float32)
  if face.size < 3:
    return None
  face = face.reshape(-1, 3)
  ok = face[:, 2] > 0.1
  if ok.sum() < 5:
    return None
  lo, hi = face[ok, :2].min(0), face[ok, :2].max(0)
  centre, side = (lo + hi) / 2, max(hi - lo) * 1.2
  return np.concatenate([centre - side / 2, centre + side / 2]).astype(np.float32)


def person_details(person: dict) -> np.ndarray:
  """(50, 3) face (8) and hand (right, left: 21 each) points of one OpenPose person."""
  out = np.zeros((layout.NUM_DETAILS, 3), np.float32)
  face = np.asarray(person.get("face_keypoints_2d", []), np.float32)
  if face.size == 70 * 3:
    face = face.reshape(70, 3)
    if face[:, 2].mean() >= 0.2:
      chosen = face[list(layout.SPARSE_FACE)]
      out[:8, :2], out[:8, 2] = chosen[:, :2], (chosen[:, 2] > 0).astype(np.float32)
  for k, key in enumerate(("hand_right_keypoints_2d", "hand_left_keypoints_2d")):
    hand = np.asarray(person.get(key, []), np.float32)
    if hand.size == layout.HAND_POINTS * 3:
      hand = hand.reshape(layout.HAND_POINTS, 3)
      rows = slice(8 + k * layout.HAND_POINTS, 8 + (k + 1) * layout.HAND_POINTS)
      out[rows, :2], out[rows, 2] = hand[:, :2], (hand[:, 2] > 0.05).astype(np.float32)
  return out


def read_folder(folder: str, size: tuple[int, int] = (0, 0)) -> Poses:
  """All `*_keypoints.json` in `folder` (sorted by name = frame order) -> Poses."""
  files = sorted(glob.glob(os.path.join(folder, "*.json")))
  if not files:
    raise UserError(f"{folder}: no OpenPose .json files")
  keypoints, boxes, detected, details = [], [], [], []
  previous = None
  for path in files:
    try:
      with open(path) as f:
        people = json.load(f).get("people", [])
    except (OSError, json.JSONDecodeError) as e:
      raise UserError(f"{path}: not readable OpenPose JSON ({e})") from e
    candidates = [(person_keypoints(p, path), p) for p in people]
    candidates = [(k, p) for k, p in candidates if _anchor(k) is not None]
    if not candidates:
      keypoints.append(np.zeros((NUM_JOINTS, 3), np.float32))
      details.append(np.zeros((layout.NUM_DETAILS, 3), np.float32))
      boxes.append(np.full(4, np.nan, np.float32))
      detected.append(False)
      continue
    if previous is None:
      kp, person = max(candidates, key=lambda c: c[0][:, 2].sum())
    else:
      kp, person = min(candidates, key=lambda c: np.linalg.norm(_anchor(c[0]) - previous))
    previous = _anchor(kp)
    box = _face_box_from_face_points(person)
    keypoints.append(kp)
    details.append(person_details(person))
    boxes.append(box if box is not None else face_box(kp))
    detected.append(True)
  detected = np.asarray(detected)
  details = np.stack(details)
  return Poses(np.stack(keypoints), np.stack(boxes), detected, np.zeros_like(detected), size,
               details=details if details[..., 2].any() else None)
