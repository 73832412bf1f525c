"""Pose-conditioned video GAN through the shared loop, and the end-to-end forecast path."""
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
from jaxvid.trainers import get_trainer
from helpers import REPO, load_config, read_metrics

# One worker runs this file: its module-scoped fixture (tiny trainings) is built once.
pytestmark = pytest.mark.xdist_group("test_pose_gan")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """Tiny pose-VAE (32x32, steps of 2 frames: 5 steps cover the GAN's 8-frame clip) and tiny
  pose-GAN (16x16, so poses must be rescaled) workdirs."""
  root = tmp_path_factory.mktemp("pose_knows")
  vae_dir, gan_dir = str(root / "vae"), str(root / "gan")
  train.train_and_evaluate(load_config("pose_vae.py", pose_vae__frames_per_step=2,
                                       data__frames=16), vae_dir)
  train.train_and_evaluate(load_config("pose_gan.py", data__height=16, data__width=16), gan_dir)
  return vae_dir, gan_dir


def test_pose_gan_trains_and_writes_its_figure(trained):
  _, gan_dir = trained
  last = read_metrics(gan_dir)[-1]
  assert {"d_loss", "g_loss", "g_l1_mean", "d_real", "d_fake"} <= set(last)
  assert all(np.isfinite(v) for v in last.values())
  # L_G = adversarial + alpha * mean L1 with the code's alpha = 1000 on pixels / 255 (span 1):
  # 500 x the mean L1 of [-1, 1] pixels, which dominates an untrained G
  assert last["g_loss"] == pytest.approx(500 * last["g_l1_mean"], rel=0.05)
  import imageio.v2 as imageio
  gif = imageio.mimread(os.path.join(gan_dir, "samples", "step_0000004.gif"))
  assert len(gif) == 8
  steps = sorted(int(d) for d in os.listdir(os.path.join(gan_dir, "checkpoints")) if d.isdigit())
  assert steps == [2, 4]
  # the loop logs the samples' quality next to the training scalars
  from tensorboard.backend.event_processing import event_accumulator
  acc = event_accumulator.EventAccumulator(os.path.join(gan_dir, "tensorboard"))
  acc.Reload()
  psnr = acc.Scalars("samples/psnr")
  assert [e.step for e in psnr] == [4] and 0 < psnr[0].value < 100


def _trained_step_inputs(gan_dir, split_batch="halves"):
  """(config, trainer, trained state, a random batch of 4 clips) for one train_step."""
  config = ckpt_lib.load_config(gan_dir)
  config.pose_gan.split_batch = split_batch
  trainer = get_trainer(config)
  _, state = ckpt_lib.load_latest(trainer, gan_dir)
  rng = np.random.default_rng(0)
  batch = {"video": jnp.asarray(rng.uniform(-1, 1, (4, 8, 16, 16, 3)), jnp.float32),
           "keypoints": jnp.asarray(rng.uniform(0, 16, (4, 8, 18, 3)), jnp.float32)}
  return config, trainer, state, batch


def test_generator_sees_the_first_frame_and_the_skeletons(trained):
  """The L1 target of the generated half is that half's own clip; the real half only feeds D."""
  _, trainer, state, batch = _trained_step_inputs(trained[1])
  _, m1 = trainer.train_step(state, batch)
  # Changing the real half's content changes D's loss but not G's L1.
  batch2 = dict(batch, video=batch["video"].at[:2].multiply(-1.0))
  _, m2 = trainer.train_step(state, batch2)
  assert float(m1["g_l1_mean"]) == pytest.approx(float(m2["g_l1_mean"]), abs=1e-6)
  assert float(m1["d_loss"]) != pytest.approx(float(m2["d_loss"]), abs=1e-6)
  # Changing the generated half's skeletons changes what G makes.
  batch3 = dict(batch, keypoints=batch["keypoints"].at[2:, :, :, :2].add(3.0))
  _, m3 = trainer.train_step(state, batch3)
  assert float(m1["g_l1_mean"]) != pytest.approx(float(m3["g_l1_mean"]), abs=1e-6)


def test_split_batch_none_is_the_codes_batch(trained):
  """'none' (the authors' code): G makes every clip of the batch and D sees every real clip, so
  every clip is an L1 target."""
  config, trainer, state, batch = _trained_step_inputs(trained[1], "none")
  _, m1 = trainer.train_step(state, batch)
  batch2 = dict(batch, video=batch["video"].at[:2].multiply(-1.0))  # the paper's "real half"
  _, m2 = trainer.train_step(state, batch2)
  assert float(m1["g_l1_mean"]) != pytest.approx(float(m2["g_l1_mean"]), abs=1e-6)
  config.pose_gan.split_batch = "thirds"
  with pytest.raises(UserError, match="split_batch"):
    get_trainer(config)


def test_pose_gan_config_errors_are_clear(tmp_path):
  with pytest.raises(UserError, match="keypoints"):
    get_trainer(load_config("pose_gan.py", data__name="synthetic_scenes"))
  with pytest.raises(UserError, match="even"):
    get_trainer(load_config("pose_gan.py", train__batch_size=3))
  with pytest.raises(UserError, match="multiples of 4"):
    get_trainer(load_config("pose_gan.py", data__frames=6))
  with pytest.raises(UserError, match="alpha_pixel_span must be > 0"):
    get_trainer(load_config("pose_gan.py", pose_gan__alpha_pixel_span=0.0))


def test_forecast_videos_end_to_end(trained):
  vae_dir, gan_dir = trained
  import jaxvid
  from jaxvid.data import pipeline
  from jaxvid.inference import pose_knows
  vae_model, gan_model = jaxvid.load(vae_dir), jaxvid.load(gan_dir)
  vae, gan, gan_state = vae_model.trainer, gan_model.trainer, gan_model.state
  batch = pipeline.make_sample_batch(vae.config, 2)
  out = pose_knows.forecast_videos(vae_model, gan_model, batch["video"], batch["keypoints"],
                                   jax.random.key(0), 3)
  assert out["poses"].shape == (3, 2, 8, 18, 3)
  assert out["skeletons"].shape == out["videos"].shape == (3, 2, 8, 16, 16, 3)
  # the forecast starts at X_t, frame past_steps x frames_per_step = 4, rescaled from the VAE's
  # 32x32 to the GAN's 16x16
  past = vae.config.pose_vae.past_steps * vae.frames_per_step
  np.testing.assert_allclose(out["poses"][:, :, 0, :, :2],
                             np.broadcast_to(batch["keypoints"][:, past, :, :2] / 2,
                                             (3, 2, 18, 2)), atol=1e-4)
  # one step = 2 frames: the odd frames halfway between the steps' poses (getIntermediates)
  xy = out["poses"][..., :2]
  np.testing.assert_allclose(xy[:, :, 1:7:2], (xy[:, :, 0:6:2] + xy[:, :, 2:8:2]) / 2, atol=1e-4)
  # different z, different futures
  assert float(jnp.abs(out["poses"][0, :, -1] - out["poses"][1, :, -1]).max()) > 0
  # the frames are G's output for those skeletons
  assert float(jnp.abs(out["videos"]).max()) <= 1.0
  first = jax.image.resize(jnp.asarray(batch["video"][:, past]), (2, 16, 16, 3), "bilinear")
  gan_key = jax.random.split(jax.random.split(jax.random.key(0), 3)[1], 3)[1]  # its dropout
  video, _ = gan.generate({"params": gan_state.g_params, "batch_stats": gan_state.g_batch_stats},
                          first, out["skeletons"][1], gan_key)
  np.testing.assert_allclose(out["videos"][1], video, atol=1e-5)
  # the code's selection: k-means centres of the most moving samples, biggest cluster first
  chosen = pose_knows.forecast_videos(
      vae_model, gan_model, batch["video"], batch["keypoints"], jax.random.key(0), 2,
      pose_knows.Selection("kmeans", num_samples=40, top_fraction=0.25))
  assert chosen["poses"].shape == (2, 2, 8, 18, 3)
  np.testing.assert_allclose(chosen["shares"].sum(0), 1.0)
  assert (chosen["shares"][0] >= chosen["shares"][1]).all()
  with pytest.raises(UserError, match="needs at least 2 kept"):
    pose_knows.forecast_videos(vae_model, gan_model, batch["video"], batch["keypoints"],
                               jax.random.key(0), 2, pose_knows.Selection("kmeans", 10, 0.1))


def test_the_forecast_horizon_is_what_the_vae_was_trained_on(trained):
  import jaxvid
  from jaxvid.inference import pose_knows
  vae = jaxvid.load(trained[0])  # 5 steps of 2 frames
  assert pose_knows.rollout_steps(vae, 10) == 5 and pose_knows.rollout_steps(vae, 7) == 4
  assert pose_knows.rollout_steps(vae, 11) == 5  # less than a step short: the last pose held
  with pytest.raises(UserError, match="trained to forecast 5 steps x 2 frames = 10 frames"):
    pose_knows.rollout_steps(vae, 12)
  assert pose_knows.rollout_steps(vae, 12, extend=True) == 6


def _forecast_cli(*args):
  return subprocess.run([sys.executable, "-m", "jaxvid.forecast", *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def test_forecast_cli_writes_the_video(trained, tmp_path):
  vae_dir, gan_dir = trained
  output = tmp_path / "forecast.gif"
  result = _forecast_cli(f"--vae_workdir={vae_dir}", f"--gan_workdir={gan_dir}",
                         f"--output={output}", "--num_clips=2", "--num_futures=2")
  assert result.returncode == 0, result.stderr[-3000:]
  import imageio.v2 as imageio
  gif = imageio.mimread(output)
  assert len(gif) == 8
  assert np.load(tmp_path / "forecast_poses.npz")["poses"].shape == (2, 2, 8, 18, 3)
  # swapped workdirs: a one-line error naming the problem
  result = _forecast_cli(f"--vae_workdir={gan_dir}", f"--gan_workdir={vae_dir}",
                         f"--output={tmp_path / 'x.gif'}")
  assert result.returncode == 1 and "expected 'pose_vae'" in result.stderr
  assert "Traceback" not in result.stderr and not (tmp_path / "x.gif").exists()
  # inputs that would give silent garbage: a float video, NaN keypoints
  from jaxvid import checkpoint as ckpt_lib
  d = ckpt_lib.load_config(vae_dir).data
  video = np.zeros((1, 8, d.height, d.width, 3), np.uint8)
  keypoints = np.ones((1, 8, 18, 3), np.float32)
  for name, bad, says in (("float", dict(video=video.astype(np.float32), keypoints=keypoints),
                           "must be uint8"),
                          ("nan", dict(video=video, keypoints=keypoints * np.nan), "NaN")):
    np.savez(tmp_path / f"{name}.npz", **bad)
    result = _forecast_cli(f"--vae_workdir={vae_dir}", f"--gan_workdir={gan_dir}",
                           f"--input={tmp_path / f'{name}.npz'}", f"--output={tmp_path / 'y.gif'}")
    assert result.returncode == 1 and says in result.stderr, result.stderr[-1000:]


def test_forecast_cli_from_a_users_video_and_its_extracted_poses(trained, tmp_path):
  """A 25 fps 112x200 mp4 (not the VAE's 32x32 frame) with the person off-centre, and
  jaxvid.extract's .npz of it as --input: read from the .npz's `source`, the person cropped."""
  import av
  from jaxvid.data import pipeline
  from jaxvid.poses.extract import Poses
  vae_dir, gan_dir = trained
  batch = pipeline.make_sample_batch(ckpt_lib.load_config(vae_dir), 1)
  small = np.round((np.asarray(batch["video"][0]) + 1) * 127.5).astype(np.uint8)  # (T, 32, 32)
  frames = np.zeros((len(small), 112, 200, 3), np.uint8)
  frames[:, 8:104, 100:196] = small.repeat(3, 1).repeat(3, 2)  # 3x, right of centre
  keypoints = np.array(batch["keypoints"][0], np.float32)
  keypoints[..., :2] = (keypoints[..., :2] + 0.5) * 3 - 0.5 + np.array([100, 8])
  video = tmp_path / "my clip.mp4"
  with av.open(str(video), "w") as container:
    stream = container.add_stream("libx264", rate=25)
    stream.height, stream.width, stream.pix_fmt = 112, 200, "yuv420p"
    for frame in frames:
      container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
  n = len(frames)
  Poses(keypoints, np.zeros((n, 4)), np.ones(n, bool), np.zeros(n, bool), (112, 200), 25.0,
        str(video)).save(tmp_path / "my clip.npz")
  output = tmp_path / "mine.gif"
  result = _forecast_cli(f"--vae_workdir={vae_dir}", f"--gan_workdir={gan_dir}",
                         f"--input={tmp_path / 'my clip.npz'}", f"--output={output}",
                         "--num_futures=2", "--num_samples=16", "--top_fraction=0.5")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "person crop to 32x32" in result.stdout
  import imageio.v2 as imageio
  assert len(imageio.mimread(output)) == 8
  poses = np.load(tmp_path / "mine_poses.npz")["poses"]
  assert poses.shape == (2, 1, 8, 18, 3) and np.isfinite(poses).all()
  # --poses belongs to a video; a missing video is named before the models load
  for args, says in (([f"--poses={tmp_path / 'my clip.npz'}"], "--poses goes with --input"),
                     ([f"--input={tmp_path / 'gone.mp4'}"], "gone.mp4 does not exist")):
    result = _forecast_cli(f"--vae_workdir={vae_dir}", f"--gan_workdir={gan_dir}",
                           f"--output={tmp_path / 'z.gif'}", *args)
    assert result.returncode == 1 and says in result.stderr, result.stderr[-1000:]


def test_quality_suite_reports_gan_and_the_pose_blind_baselines(trained):
  import jaxvid
  from jaxvid import api, evaluators
  from jaxvid.evaluators.common import Options, fvd_row
  report = evaluators.run(evaluators.get("pose_gan"), [jaxvid.load(trained[1])],
                          Options(num_test=3, fvd=False, progress=False), api.load)
  assert report["clips"] == 3  # --num_test: a larger held-out split than the config's 2
  assert len(report["rows"]) == 3 and {"first frame repeated", "another clip's poses"} <= set(
      report["rows"])
  for row in report["rows"].values():
    assert row["L1"] > 0 and 0 < row["SSIM"] <= 1 and 0 < row["body SSIM"] <= 1
    assert row["PSNR_95"][0] <= row["PSNR"] <= row["PSNR_95"][1]
    assert row["body L1"] > 0 and np.isfinite(row["body LPIPS"])
  assert 16 <= report["body_crop"] <= 32
  with pytest.raises(UserError, match="--num_videos and --num_test must be >= 0"):
    evaluators.run(evaluators.get("pose_gan"), [jaxvid.load(trained[1])],
                   Options(num_test=-1, fvd=False, progress=False), api.load)
  # Gaussians whose FVD is known: means 0.5 apart in each of 40 dimensions, same covariance
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(256, 40)), rng.normal(0.5, 1, size=(256, 40))
  result = fvd_row(a, b, paired=True)
  assert result["fvd_95"][0] < 40 * 0.25 < result["fvd_95"][1]


def test_pose_knows_suite_compares_the_pipeline_with_a_conditional_vgan(trained, tmp_path):
  """The paper's comparison on tiny models: every row, best of k no worse than the mean over
  k on every metric, a one-line error for a wrong set of workdirs."""
  import jaxvid
  from jaxvid import api, evaluators
  from jaxvid.evaluators.common import Options
  cond_dir = str(tmp_path / "cond")
  train.train_and_evaluate(load_config("vgan_cond.py", data__name="synthetic_dancer",
                                       data__frames=8), cond_dir)
  models = [jaxvid.load(d) for d in (*trained, cond_dir)]
  suite = evaluators.get("pose_knows")
  report = evaluators.run(suite, models, Options(num_videos=2, fvd=False, progress=False,
                                                 futures=2), api.load)
  rows = report["rows"]
  assert set(rows) == {"pipeline, best of 2", "pipeline, mean over 2", "pose GAN, true poses",
                       "first frame repeated", "conditional VGAN (step 4)"}
  best, mean = rows["pipeline, best of 2"], rows["pipeline, mean over 2"]
  for m in ("L1", "LPIPS", "body L1", "body LPIPS"):
    assert best[m] <= mean[m] + 1e-9
  for m in ("PSNR", "SSIM", "body SSIM"):
    assert best[m] >= mean[m] - 1e-9
  assert rows["first frame repeated"]["body L1"] > 0
  assert 0 < report["body_crop"] <= 16 and report["present_frame"] == 4
  print(suite.module.format_table(report))
  with pytest.raises(UserError, match="needs a pose_vae and a pose_gan"):
    evaluators.run(suite, models[1:], Options(num_videos=2, fvd=False, progress=False),
                   api.load)
  # --num_test: a larger held-out split of the pose-VAE's synthetic data than its config's 2
  report = evaluators.run(suite, models[:2], Options(num_test=3, fvd=False, progress=False,
                                                     futures=1), api.load)
  assert report["clips"] == 3 and set(report["rows"]) == {
      "pipeline, best of 1", "pipeline, mean over 1", "pose GAN, true poses",
      "first frame repeated"}
  from jaxvid.evaluators.common import held_out_config
  with pytest.raises(UserError, match="synthetic dataset; 'video_folder' has the clips it has"):
    held_out_config(load_config("pose_vae.py", data__name="video_folder"), 3)
