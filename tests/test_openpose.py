"""OpenPose JSON import (BODY_25 and COCO-18), written by the test."""
import json

import numpy as np
import pytest

from jaxvid.errors import UserError
from jaxvid.poses import openpose
from jaxvid.poses.keypoints import JOINT


def _write(folder, frame, people):
  (folder / f"video_{frame:012d}_keypoints.json").write_text(json.dumps({"version": 1.3,
                                                                          "people": people}))


def _body25(offset):
  kp = np.zeros((25, 3))
  kp[:, 0] = np.arange(25) + offset  # x encodes the BODY_25 index
  kp[:, 1] = 50.0
  kp[:, 2] = 0.9
  return {"pose_keypoints_2d": kp.reshape(-1).tolist()}


def test_body25_maps_to_coco18_and_follows_one_person(tmp_path):
  _write(tmp_path, 0, [_body25(0)])
  _write(tmp_path, 1, [_body25(300), _body25(2)])  # a second person appears far away
  _write(tmp_path, 2, [])  # nobody
  poses = openpose.read_folder(str(tmp_path), size=(240, 320))
  assert poses.keypoints.shape == (3, 18, 3)
  x = poses.keypoints[0, :, 0]
  assert x[JOINT["r_wrist"]] == 4 and x[JOINT["r_hip"]] == 9 and x[JOINT["l_ear"]] == 18
  assert poses.keypoints[1, JOINT["neck"], 0] == 3  # the same person (neck at 1 -> 3), not 301
  assert poses.detected.tolist() == [True, True, False]
  assert (poses.keypoints[2, :, 2] == 0).all() and poses.size == (240, 320)


def test_coco18_json_and_face_points_give_the_face_box(tmp_path):
  kp = np.zeros((18, 3))
  kp[:, :2], kp[:, 2] = 10.0, 0.8
  face = np.zeros((70, 3))
  face[:, 0] = np.linspace(100, 120, 70)
  face[:, 1] = np.linspace(40, 60, 70)
  face[:, 2] = 0.9
  _write(tmp_path, 0, [{"pose_keypoints_2d": kp.reshape(-1).tolist(),
                        "face_keypoints_2d": face.reshape(-1).tolist()}])
  poses = openpose.read_folder(str(tmp_path))
  np.testing.assert_allclose(poses.keypoints[0], kp)
  np.testing.assert_allclose(poses.face_boxes[0], [98, 38, 122, 62])


def test_bad_folders_and_files_are_clear_errors(tmp_path):
  with pytest.raises(UserError, match="no OpenPose"):
    openpose.read_folder(str(tmp_path))
  (tmp_path / "a_keypoints.json").write_text("{broken")
  with pytest.raises(UserError, match="not readable"):
    openpose.read_folder(str(tmp_path))
  (tmp_path / "a_keypoints.json").write_text(json.dumps(
      {"people": [{"pose_keypoints_2d": [1.0] * 30}]}))
  with pytest.raises(UserError, match="75"):
    openpose.read_folder(str(tmp_path))


def test_transfer_reads_an_openpose_folder_with_its_frame_size(tmp_path):
  """OpenPose JSON has no frame size: transfer takes it from --source_size or the video."""
  from jaxvid.inference import edn as edn_lib
  for frame in range(3):
    kp = np.zeros((18, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = 300 + frame, np.linspace(100, 300, 18), 0.9
    _write(tmp_path, frame, [{"pose_keypoints_2d": kp.reshape(-1).tolist()}])
  src = edn_lib.load_source(str(tmp_path), (32, 32), source_size="360x640")
  assert src.size == (360, 640) and src.keypoints.shape == (3, 18, 3) and src.fps == 0
  with pytest.raises(UserError, match="--source_video=VIDEO or --source_size"):
    edn_lib.load_source(str(tmp_path), (32, 32))
  with pytest.raises(UserError, match="HEIGHTxWIDTH"):
    edn_lib.load_source(str(tmp_path), (32, 32), source_size="640by360")


def test_transfer_treats_nan_keypoints_as_missing(tmp_path):
  from jaxvid.inference import edn as edn_lib
  kp = np.random.default_rng(0).uniform(10, 300, (4, 18, 3)).astype(np.float32)
  kp[..., 2] = 0.9
  kp[1, 3] = np.nan  # one joint of one frame
  np.save(tmp_path / "k.npy", kp)
  src = edn_lib.load_source(str(tmp_path / "k.npy"), (32, 32), source_size="360x640")
  assert np.isfinite(src.keypoints).all() and src.keypoints[1, 3, 2] == 0
  np.save(tmp_path / "nan.npy", np.full((4, 18, 3), np.nan, np.float32))
  with pytest.raises(UserError, match="no finite keypoint"):
    edn_lib.load_source(str(tmp_path / "nan.npy"), (32, 32), source_size="360x640")
  with pytest.raises(UserError, match="--frames must be >= 2"):
    edn_lib.load_source("dancer:1", (32, 32), frames=0)
