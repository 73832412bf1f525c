"""Everybody Dance Now: both stages through the shared loop, temporal conditioning, face crops,
and the transfer CLI."""
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvid import checkpoint as ckpt_lib
from jaxvid import train
from jaxvid.errors import UserError
from jaxvid.pixels import to_unit_range
from jaxvid.trainers import edn as edn_lib
from jaxvid.trainers import get_trainer
from helpers import REPO, load_config, read_metrics

# One worker runs this file: its module-scoped fixture (tiny trainings) is built once.
pytestmark = pytest.mark.xdist_group("test_edn")


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
  root = tmp_path_factory.mktemp("edn")
  stage1, stage2 = str(root / "stage1"), str(root / "stage2")
  train.train_and_evaluate(load_config("edn.py"), stage1)
  train.train_and_evaluate(load_config("edn.py", "tiny_face", edn__stage1_workdir=stage1), stage2)
  return stage1, stage2


def test_stage1_trains_with_every_loss_term(stages):
  last = read_metrics(stages[0])[-1]
  assert {"d_loss", "g_adv", "g_fm", "g_vgg", "l1_cur"} <= set(last)
  assert all(np.isfinite(v) for v in last.values())
  assert os.path.exists(os.path.join(stages[0], "samples", "step_0000002.gif"))


def test_stage2_trains_the_face_gan_with_stage1_frozen(stages):
  stage1, stage2 = stages
  last = read_metrics(stage2)[-1]
  assert {"face_d_loss", "face_adv", "face_vgg", "face_l1"} <= set(last)
  _, s1 = ckpt_lib.load_latest(get_trainer(ckpt_lib.load_config(stage1)), stage1)
  _, s2 = ckpt_lib.load_latest(get_trainer(ckpt_lib.load_config(stage2)), stage2)
  for a, b in zip(jax.tree.leaves(s1.g_params), jax.tree.leaves(s2.g_params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_stage2_without_stage1_is_a_clear_error(tmp_path):
  with pytest.raises(UserError, match="stage1_workdir"):
    train.train_and_evaluate(load_config("edn.py", "tiny_face"), str(tmp_path))


@pytest.mark.parametrize("temporal", [True, False])
def test_each_frame_depends_on_the_previous_output_only_when_temporal(temporal):
  trainer = get_trainer(load_config("edn.py", edn__temporal=temporal))
  state = trainer.init_state(jax.random.key(0))
  poses = jax.random.uniform(jax.random.key(1), (1, 3, 32, 32, 3), minval=-1, maxval=1)
  a = trainer.generate_video(state.g_params, poses)["video"]
  b = trainer.generate_video(state.g_params, poses.at[:, 0].multiply(-1.0))["video"]
  changed = float(jnp.abs(a[:, 1] - b[:, 1]).max())
  assert (changed > 1e-6) == temporal
  assert float(jnp.abs(a[:, 0] - b[:, 0]).max()) > 1e-6


def test_face_crops_stay_inside_and_paste_back():
  images = jnp.arange(2 * 32 * 32 * 3, dtype=jnp.float32).reshape(2, 32, 32, 3)
  boxes = jnp.array([[10.0, 12.0, 14.0, 16.0], [28.0, -4.0, 36.0, 4.0]])  # second off the edge
  crops, corners = edn_lib.crop_faces(images, boxes, 8)
  assert crops.shape == (2, 8, 8, 3)
  np.testing.assert_array_equal(corners, [[10, 8], [0, 24]])
  np.testing.assert_array_equal(crops[0], images[0, 10:18, 8:16])
  pasted = edn_lib.paste_faces(images, jnp.zeros_like(crops), corners)
  assert float(pasted[1, 0:8, 24:32].sum()) == 0 and float(pasted[1, 8:, :].min()) >= 0
  np.testing.assert_array_equal(pasted[0, 20:], images[0, 20:])


def _transfer(*args, env=None):
  return subprocess.run([sys.executable, "-m", "jaxvid.transfer", *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300,
                        env=None if env is None else {**os.environ, **env})


def test_transfer_cli_moves_another_subject(stages, tmp_path):
  output = tmp_path / "dance.gif"
  result = _transfer(f"--workdir={stages[1]}", "--source=dancer:2", f"--output={output}",
                     "--frames=6", "--chunk=4")  # two chunks: the second continues the first
  assert result.returncode == 0, result.stderr[-3000:]
  import imageio.v2 as imageio
  assert len(imageio.mimread(output)) == 6
  side = imageio.mimread(tmp_path / "dance_side_by_side.gif")
  assert side[0].shape[1] > 3.5 * side[0].shape[0] / 1.3  # four columns
  poses = np.load(tmp_path / "dance_poses.npy")
  assert poses.shape == (6, 18, 3)
  # a bad source: one line, exit 1, no output
  result = _transfer(f"--workdir={stages[1]}", "--source=dancer:9",
                     f"--output={tmp_path / 'x.gif'}")
  assert result.returncode == 1 and "subjects are 0..3" in result.stderr
  assert "Traceback" not in result.stderr and not (tmp_path / "x.gif").exists()
  # `~` in every path flag (the shell leaves --flag=~/... alone)
  home = os.path.dirname(stages[1])
  result = _transfer(f"--workdir=~/{os.path.basename(stages[1])}", "--source=dancer:1",
                     "--output=~/tilde/dance.gif", "--frames=3", env={"HOME": home})
  assert result.returncode == 0, result.stderr[-3000:]
  assert os.path.exists(os.path.join(home, "tilde", "dance.gif"))


def _wide_source(tmp_path, frames=20):
  """A 640x360, 25 fps mp4 of another subject and its poses .npz as extract writes it."""
  from jaxvid import visualize
  from jaxvid.data import synthetic_dancer
  from jaxvid.poses.extract import Poses
  clip = synthetic_dancer.render_clip(7, 1, frames, 360, 640, subject_id=2)
  video = str(tmp_path / "source.mp4")
  visualize.write_video(video, clip["video"], fps=25)
  poses = Poses(clip["keypoints"], clip["face_box"], np.ones(frames, bool),
                np.zeros(frames, bool), (360, 640), fps=25.0, source=video)
  poses.save(str(tmp_path / "source.npz"))
  return clip, tmp_path / "source.npz"


def test_transfer_from_a_wide_25fps_video_lands_in_the_target_frame_at_its_speed(stages, tmp_path):
  from jaxvid import video_io
  clip, npz = _wide_source(tmp_path)
  output = tmp_path / "out" / "me.mp4"
  result = _transfer(f"--workdir={stages[1]}", f"--source={npz}", f"--output={output}",
                     "--chunk=8")
  assert result.returncode == 0, result.stderr[-3000:]
  info = video_io.probe(str(output))
  assert info.fps == 25 and info.num_frames == 20 and info.size == (32, 32)
  side = video_io.probe(str(tmp_path / "out" / "me_side_by_side.mp4"))
  assert side.num_frames == 20 and side.size[1] > 3.5 * 32  # the source video is a column
  poses = np.load(tmp_path / "out" / "me_poses.npy")
  body = poses[poses[..., 2] >= 0.1]
  assert ((body[:, 0] >= 0) & (body[:, 0] < 32) & (body[:, 1] >= 0) & (body[:, 1] < 32)).all()
  # the source's frame size is needed without the .npz: a one-line error before any work
  np.save(tmp_path / "bare.npy", clip["keypoints"])
  result = _transfer(f"--workdir={stages[1]}", f"--source={tmp_path / 'bare.npy'}",
                     f"--output={tmp_path / 'y.mp4'}")
  assert result.returncode == 1 and "--source_size" in result.stderr
  assert "Traceback" not in result.stderr and not (tmp_path / "y.mp4").exists()


def test_transfer_from_a_video_keeps_its_sound_in_sync_and_extracts_once(stages, tmp_path):
  """--source=VIDEO: poses of its person extracted (MediaPipe) and kept in the cache; the
  output and the side-by-side have the video's fps, length and sound, a click where it was."""
  from jaxvid import av_writer, video_io
  from jaxvid.data import synthetic_dancer
  from helpers import click_time, write_video_with_click
  clip = synthetic_dancer.render_clip(7, 1, 30, 256, 256, subject_id=2)
  source = tmp_path / "their dance.mp4"  # a space in the name, as users' files have
  write_video_with_click(source, clip["video"], 15, click_s=1.2)
  cache = tmp_path / "cache"
  output = tmp_path / "me.mp4"
  run = lambda *extra: _transfer(f"--workdir={stages[1]}", f"--source={source}",
                                 f"--output={output}", f"--pose_cache={cache}", "--noprogress",
                                 "--allow_outside", *extra)
  result = run()
  assert result.returncode == 0, result.stderr[-3000:]
  assert "following the largest fully visible person" in result.stdout
  assert "with the sound of" in result.stdout
  for path in (output, tmp_path / "me_side_by_side.mp4"):
    info = video_io.probe(str(path))
    assert info.fps == 15 and info.num_frames == 30
    start, duration = av_writer.audio_stream_info(str(path))
    assert start == pytest.approx(0, abs=0.01) and duration == pytest.approx(2.0, abs=1 / 15)
    assert click_time(path) == pytest.approx(1.2, abs=1 / 15)  # in sync within a frame
  assert len(os.listdir(cache)) == 1
  result = run("--overwrite", "--noaudio")
  assert result.returncode == 0 and "poses from the cache" in result.stdout
  assert av_writer.audio_stream_info(str(output)) is None
  # not a video, and nobody in it: one line each, before any work, nothing written
  (tmp_path / "notes.txt").write_text("not a video")
  empty = tmp_path / "empty room.mp4"
  write_video_with_click(empty, np.full((20, 64, 64, 3), 90, np.uint8), 15, click_s=0.5)
  for bad, says in ((tmp_path / "notes.txt", "cannot read"), (empty, "nobody found")):
    result = _transfer(f"--workdir={stages[1]}", f"--source={bad}",
                       f"--output={tmp_path / 'bad.mp4'}", f"--pose_cache={cache}")
    assert result.returncode == 1 and says in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not (tmp_path / "bad.mp4").exists()


def test_quality_suite_compares_models_with_the_baselines(stages):
  import jaxvid
  from jaxvid import api, evaluators
  from jaxvid.evaluators.common import Options
  report = evaluators.run(evaluators.get("edn"), [jaxvid.load(s) for s in stages],
                          Options(num_videos=2, transfer="dancer:2", progress=False,
                                  pose_noise="mediapipe_dancer_64", smooth_windows=(7, 3)),
                          api.load)
  names = list(report["results"])
  assert names[:4] == ["background plate (no person)", "random frame of the subject",
                       "nearest-neighbour retrieval",
                       "nearest-neighbour retrieval, detector poses"] and len(names) == 12
  # every model from the true poses, the detector's, and the detector's smoothed
  assert "detector" not in names[4] and names[5] == names[4][:-1] + ", detector poses)"
  assert names[6] == names[4][:-1] + ", detector poses smoothed)"
  assert names[7] == names[4][:-1] + ", detector poses smoothed over 3 frames)"
  rows = report["results"]
  true, noisy = rows[names[4]], rows[names[5]]
  assert noisy["temporal L1"]["mean"] != true["temporal L1"]["mean"]
  for row in report["results"].values():
    assert -1 <= row["body SSIM"]["mean"] <= 1 and row["face LPIPS"]["mean"] >= 0
    lo, hi = row["SSIM"]["interval"]
    assert lo <= row["SSIM"]["mean"] <= hi
  assert 16 <= report["body_crop"] <= 32 and report["transfer"]["frames"] == 64


def test_pose_following_measures_a_figure_that_moves_with_the_pose():
  from jaxvid.evaluators.edn import pose_follow
  t = 12
  plate = np.zeros((32, 48, 3), np.float32)
  xs = np.linspace(10, 38, t)
  frames = np.zeros((t, 32, 48, 3), np.float32)
  keypoints = np.zeros((t, 18, 3), np.float32)
  for i, x in enumerate(xs):
    frames[i, 12:20, int(x) - 3:int(x) + 3] = 1.0  # a blob at the pose
    keypoints[i, :, 0], keypoints[i, :, 1], keypoints[i, :, 2] = x, 16 + (i % 3), 1.0
  moving = pose_follow(frames, keypoints, plate)
  assert moving["corr x"] > 0.98 and moving["mean distance px"] < 3
  still = pose_follow(np.broadcast_to(frames[:1], frames.shape), keypoints, plate)
  assert not still["corr x"] > 0.5  # a figure that stays put does not follow (nan or low)


def test_retrieval_finds_the_frame_with_the_same_pose():
  from jaxvid.metrics.retrieval import PoseRetrieval
  rng = np.random.default_rng(0)
  poses = np.concatenate([rng.uniform(0, 64, (5, 18, 2)), np.ones((5, 18, 1))], -1)
  frames = np.arange(5)[:, None, None, None] * np.ones((5, 2, 2, 3))
  bank = PoseRetrieval(poses, frames)
  query = poses[[3, 1]].copy()
  query[..., :2] += 7.0  # translation does not matter: poses are compared neck-centred
  np.testing.assert_array_equal(bank.nearest(query), [3, 1])


def test_an_untrained_face_gan_leaves_the_stage1_face_unchanged():
  """With edn.face_output_init='zeros' (the CPU demo's): r = 0 at the start. The code's
  N(0, 0.02) init (the default) does change the face a little from the first step."""
  trainer = get_trainer(load_config("edn.py", "tiny_face", edn__face_output_init="zeros"))
  state = trainer.init_state(jax.random.key(0))
  frame = jax.random.uniform(jax.random.key(1), (2, 32, 32, 3), minval=-1, maxval=1)
  pose = jax.random.uniform(jax.random.key(2), (2, 32, 32, 3), minval=-1, maxval=1)
  boxes = jnp.array([[8.0, 8.0, 20.0, 20.0], [0.0, 10.0, 12.0, 22.0]])
  refined, _, _ = trainer.refine_face(state.face_g_params, pose, frame, boxes)
  np.testing.assert_allclose(refined, frame, atol=1e-6)
  code_init = get_trainer(load_config("edn.py", "tiny_face"))
  state = code_init.init_state(jax.random.key(0))
  refined, _, _ = code_init.refine_face(state.face_g_params, pose, frame, boxes)
  assert float(jnp.abs(refined - frame).max()) > 1e-3


def test_a_target_learned_from_the_users_own_video(tmp_path):
  """One mp4 of one person (a rendered dancer, 25 fps, not the builder's frames) through
  video_folder with poses: stage 1, stage 2, then transfer from that workdir."""
  pytest.importorskip("mediapipe")
  from jaxvid import visualize
  from jaxvid.data import synthetic_dancer
  videos = tmp_path / "me"
  videos.mkdir()
  clip = synthetic_dancer.render_clip(3, 0, 40, 192, 256, subject_id=0, scene_per_subject=True)
  visualize.write_video(str(videos / "me dancing.mp4"), clip["video"], fps=25)
  data = dict(data__name="video_folder", data__manual_dir=str(videos), data__with_poses=True,
              data__data_dir=str(tmp_path / "tfds"), data__clip_stride=4,
              data__test_fraction=0.25)
  stage1, stage2 = str(tmp_path / "s1"), str(tmp_path / "s2")
  train.train_and_evaluate(load_config("edn.py", "tiny", **data), stage1)
  train.train_and_evaluate(load_config("edn.py", "tiny_face", edn__stage1_workdir=stage1,
                                       **data), stage2)
  from jaxvid.data import pipeline
  test_clips = pipeline.data_source(load_config("edn.py", "tiny", **data), "test")
  assert len(test_clips) >= 1 and (test_clips[0]["keypoints"][..., 2] > 0.3).mean() > 0.8
  output = tmp_path / "out.mp4"
  result = _transfer(f"--workdir={stage2}", "--source=dancer:2", f"--output={output}",
                     "--frames=5")
  assert result.returncode == 0, result.stderr[-3000:]
  assert output.exists() and (tmp_path / "out_side_by_side.mp4").exists()


def test_a_briefly_trained_model_moves_the_figure_with_a_wide_sources_poses():
  """80 steps at 32x32, then a 640x360 source whose dancer crosses the frame: the generated
  foreground's centroid follows the normalised pose's in x; after one step it does not."""
  from jaxvid.data import pipeline, synthetic_dancer
  from jaxvid.evaluators.edn import background_plate, pose_follow
  from jaxvid.inference.edn import EDNModel, Source
  config = load_config("edn.py", "tiny", data__frames=4, data__num_clips=64, edn__ngf=8,
                       edn__n_blocks=2, edn__ndf=8, train__batch_size=4)
  trainer = get_trainer(config)
  state = trainer.init_state(jax.random.key(0))
  batches = pipeline.make_train_iterator(config)
  step = jax.jit(trainer.train_step, donate_argnums=0)
  for i in range(80):
    state, _ = step(state, next(batches))
    if i == 0:
      after_one = jax.tree.map(jnp.copy, state)
  clip = synthetic_dancer.render_clip(7, 1, 24, 360, 640, subject_id=2)
  clip["keypoints"][..., 0] += np.linspace(-70, 70, 24)[:, None]  # walks across the frame
  model = lambda s: EDNModel(config=config, trainer=trainer, state=s, step=0, workdir="")
  poses = model(state).to_target_frame(Source(clip["keypoints"], (360, 640), 25.0))
  assert ((poses[..., 0] >= 0) & (poses[..., 0] < 32)).all()
  train_clips = pipeline.data_source(config, "train")
  plate = background_plate(np.concatenate([train_clips[i]["video"]
                                           for i in range(len(train_clips))]))
  plate = to_unit_range(plate)
  follow = {name: pose_follow(model(s).generate_frames(poses, len(poses))["video"], poses, plate)
            for name, s in (("trained", state), ("one step", after_one))}
  # 80 steps are short: the correlation moves with the float rounding of the build (0.80 when
  # written, 0.49 with the tests' LLVM -O0); one step: -0.82, -0.42
  assert follow["trained"]["corr x"] > 0.3, follow
  assert follow["trained"]["corr x"] > follow["one step"]["corr x"] + 0.5, follow
  assert not follow["one step"]["corr x"] > 0.3, follow


def test_stage2_conditions_frame_t_on_the_refined_t_minus_1():
  """The face generator changes frame t-1's face; G's frame t (before its own refinement) sees
  that change, in training (refined_pair) and at transfer (generate_video)."""
  trainer = get_trainer(load_config("edn.py", "tiny_face"))
  state = trainer.init_state(jax.random.key(0))
  bumped = jax.tree.map(lambda p: p + 0.05, state.face_g_params)  # a non-zero residual
  key = jax.random.split(jax.random.key(1), 4)
  pair = {"x_prev": jax.random.uniform(key[0], (1, 32, 32, 3), minval=-1, maxval=1),
          "x_cur": jax.random.uniform(key[1], (1, 32, 32, 3), minval=-1, maxval=1),
          "y_prev": jnp.zeros((1, 32, 32, 3)), "box_prev": jnp.array([[8.0, 8.0, 24.0, 24.0]]),
          "box_cur": jnp.array([[8.0, 8.0, 24.0, 24.0]])}
  a = trainer.refined_pair(state.g_params, state.face_g_params, pair)
  b = trainer.refined_pair(state.g_params, bumped, pair)
  assert float(jnp.abs(a["prev"] - b["prev"]).max()) > 1e-4
  assert float(jnp.abs(a["g_f_cur"] - b["g_f_cur"]).max()) > 1e-6  # G's frame t, its face
  poses = jnp.stack([pair["x_prev"], pair["x_cur"]], 1)
  boxes = jnp.stack([pair["box_prev"], pair["box_cur"]], 1)
  va = trainer.generate_video(state.g_params, poses, state.face_g_params, boxes)["stage1"]
  vb = trainer.generate_video(state.g_params, poses, bumped, boxes)["stage1"]
  np.testing.assert_array_equal(va[:, 0], vb[:, 0])  # frame 0: before any refinement
  assert float(jnp.abs(va[:, 1] - vb[:, 1]).max()) > 1e-6


def test_edn_suite_checks_its_smoothing_windows_before_any_work():
  from types import SimpleNamespace
  from jaxvid.errors import UserError
  from jaxvid.evaluators import edn as edn_suite
  from jaxvid.evaluators.common import Options
  model = SimpleNamespace(kind="edn", workdir="w", config=SimpleNamespace(
      data=SimpleNamespace(to_dict=lambda: {})))
  edn_suite.check([model], Options(pose_noise="mediapipe_dancer_64", smooth_windows=(7, 5)))
  for bad in ((1,), (), (7, 0)):
    with pytest.raises(UserError, match="--smooth_windows must be frame counts >= 2"):
      edn_suite.check([model], Options(pose_noise="mediapipe_dancer_64", smooth_windows=bad))
