"""Everybody Dance Now's label maps with the face and hands (poses/keypoints.py layout
'body_face_hands'): read from OpenPose JSON, drawn where they should be, trained on at :tiny."""
import json

import numpy as np
import pytest

from jaxvid import train
from jaxvid.data import synthetic_dancer
from jaxvid.poses import keypoints as kp
from jaxvid.poses import openpose
from jaxvid.poses.render import HAND_COLOURS, render_skeleton, render_skeleton_jax
from helpers import load_config

pytestmark = pytest.mark.xdist_group("test_edn")  # trains EDN: with test_edn's worker


def _openpose_frame(folder):
  """One OpenPose frame (COCO-18 body, 70 face points, two hands) of a person standing in a
  100 x 100 frame; the right hand's index finger straight up from (30, 40) to (30, 20)."""
  body = np.zeros((18, 3))
  body[:, 2] = 0.9
  body[:, :2] = 50.0
  body[kp.JOINT["neck"], :2] = (50, 30)
  body[kp.JOINT["r_wrist"], :2] = (30, 50)
  body[kp.JOINT["l_wrist"], :2] = (70, 50)
  face = np.zeros((70, 3))
  face[:, :2], face[:, 2] = (50, 12), 0.6
  face[30, :2] = (80, 10)  # the nose tip, away from everything else
  right = np.zeros((21, 3))
  right[0] = (30, 50, 0.8)  # the wrist
  right[5:9, 0], right[5:9, 1], right[5:9, 2] = 30, (40, 33, 26, 20), 0.8  # the index finger
  left = np.zeros((21, 3))
  left[:, 2] = 0.01  # below OpenPose's hand threshold (0.05): not drawn
  person = {"pose_keypoints_2d": body.reshape(-1).tolist(),
            "face_keypoints_2d": face.reshape(-1).tolist(),
            "hand_right_keypoints_2d": right.reshape(-1).tolist(),
            "hand_left_keypoints_2d": left.reshape(-1).tolist()}
  (folder / "v_000000000000_keypoints.json").write_text(json.dumps({"people": [person]}))


def test_openpose_face_and_hands_are_drawn_where_they_are(tmp_path):
  _openpose_frame(tmp_path)
  poses = openpose.read_folder(str(tmp_path), size=(100, 100))
  points = poses.points("body_face_hands")
  assert points.shape == (1, 68, 3)
  nose_tip = kp.FACE_START + kp.SPARSE_FACE.index(30)
  assert tuple(points[0, nose_tip]) == (80, 10, 1)
  assert points[0, kp.LEFT_HAND_START:, 2].max() == 0  # under the hand threshold
  frame = render_skeleton(points, 100, 100, thickness=2.0)[0].astype(int)
  assert (frame[10, 80] == 255).all()  # the nose tip: a white dot ...
  assert frame[10, 84].sum() == 0  # ... of radius 1 (half the limbs' 2), nothing beside it
  bone = kp.HAND_BONES.index((6, 7))  # index finger, between (30, 33) and (30, 26)
  np.testing.assert_allclose(frame[30, 30], np.round(np.array(HAND_COLOURS[bone]) * 255),
                             atol=1)
  assert frame[30, 34].sum() == 0  # a thin bone: 4 px to the side is black
  body_only = render_skeleton(poses.points("body"), 100, 100, thickness=2.0)[0]
  assert body_only[10, 80].sum() == 0 and body_only[30, 30].sum() == 0
  np.testing.assert_allclose(np.asarray(render_skeleton_jax(points, 100, 100, 2.0))[0] * 255,
                             frame, atol=1.01)  # the jitted renderer draws the same


def test_the_layouts_convert_and_mirror():
  body = np.random.default_rng(0).uniform(0, 60, (3, 18, 3)).astype(np.float32)
  full = kp.with_layout(body, "body_face_hands")
  assert full.shape == (3, 68, 3) and (full[:, 18:, 2] == 0).all()
  np.testing.assert_array_equal(kp.with_layout(full, "body"), body)
  hands = synthetic_dancer.with_face_hands(body)
  flipped = kp.flip_horizontal(hands, 64)
  np.testing.assert_allclose(flipped[:, kp.LEFT_HAND_START, 0],  # right wrist -> left
                             63 - hands[:, kp.RIGHT_HAND_START, 0])
  np.testing.assert_allclose(kp.flip_horizontal(flipped, 64), hands, atol=1e-4)
  with pytest.raises(ValueError, match="18 .* or 68"):
    kp.layout_of(25)


def test_edn_paper_stages_train_on_face_and_hand_label_maps(tmp_path):
  """:paper_local then :paper_face (face and hands in the maps, the local generator, 3 D scales,
  LSGAN, epochs) shrunk to tiny sizes and widths: each stage takes finite steps."""
  stage1, stage2 = str(tmp_path / "s1"), str(tmp_path / "s2")
  small = dict(data__height=32, data__width=64, data__frames=4, data__num_clips=8,
               data__num_test=2, edn__ngf=4, edn__n_blocks=1, edn__n_blocks_local=1, edn__ndf=4,
               edn__n_down=2, edn__face_ngf=4, edn__face_n_blocks=1, edn__face_size=16,
               train__batch_size=2, train__num_steps=2, train__checkpoint_every=2,
               train__sample_every=2, train__num_samples=2)
  config = load_config("edn.py", "paper_local", **small)
  assert config.data.pose_layout == "body_face_hands" and config.edn.gan_loss == "lsgan"
  metrics = train.train_and_evaluate(config, stage1)
  assert np.isfinite(metrics["g_loss"])
  from jaxvid.data import pipeline
  record = pipeline.data_source(config, "train")[0]
  assert record["keypoints"].shape[1:] == (68, 3)  # the dataset stores the face and hands
  face = load_config("edn.py", "paper_face", edn__stage1_workdir=stage1, **small)
  assert np.isfinite(train.train_and_evaluate(face, stage2)["face_adv"])
  import jaxvid
  model = jaxvid.load(stage2, expected="edn")
  clip = synthetic_dancer.render_clip(5, 0, 4, 32, 64, subject_id=1)
  out = model.transfer(clip["keypoints"], source_size=(32, 64))  # a body-only source works
  assert out.shape == (4, 32, 64, 3)


def test_holistic_hands_go_to_the_nearest_wrist_and_strangers_stay_out():
  from jaxvid.poses import details
  body = np.zeros((18, 3), np.float32)
  body[kp.JOINT["r_wrist"]] = (100, 100, 0.9)
  body[kp.JOINT["l_wrist"]] = (200, 100, 0.9)
  hand = lambda x, y: np.tile(np.array([[x, y]], np.float32), (21, 1))
  out = details.assign_hands([hand(198, 104), hand(103, 97), hand(500, 500)], body, reach=40)
  right, left = out[:21], out[21:]
  assert tuple(right[0]) == (103, 97, 1) and tuple(left[0]) == (198, 104, 1)
  out = details.assign_hands([hand(130, 100), hand(101, 100)], body, reach=40)
  assert tuple(out[0]) == (101, 100, 1) and out[21:, 2].max() == 0  # the nearer one kept
  mesh = np.zeros((468, 2), np.float32)
  mesh[1], mesh[33], mesh[133] = (5, 6), (10, 0), (20, 2)
  face = details.face_points(mesh)
  assert tuple(face[kp.SPARSE_FACE.index(30)]) == (5, 6)  # OpenPose's nose tip: mesh point 1
  assert tuple(face[kp.SPARSE_FACE.index(68)]) == (15, 1)  # the right pupil: its eye's middle
