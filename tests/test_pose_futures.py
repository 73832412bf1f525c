"""The Pose Knows' forecast protocol as the authors' code: steps of several frames interpolated
to every frame (getIntermediates.lua), the shown futures chosen by motion and k-means
(evaltest.lua), the horizon checked, confidence binarised, `:paper`'s widths."""
import jax
import numpy as np
import pytest

from configs import pose_vae as pose_vae_configs
from jaxvid.errors import UserError
from jaxvid.poses import futures
from jaxvid.trainers.pose_vae import PoseVAETrainer


def test_five_steps_of_six_frames_make_thirty_frames_through_the_step_poses():
  rng = np.random.default_rng(0)
  steps = rng.uniform(0, 64, (2, 6, 18, 3)).astype(np.float32)  # the present + 5 steps
  steps[..., 2] = rng.integers(0, 2, (2, 6, 18))
  frames = futures.interpolate_steps(steps, 6)
  assert frames.shape == (2, 31, 18, 3)  # X_t and the code's opt.timestep = 30 frames
  np.testing.assert_allclose(frames[:, ::6], steps, atol=1e-5)  # the known poses, at k * 6
  # frame 6 i + m = P_i + m / 6 (P_{i+1} - P_i), by hand for step 2, frame 4 of it
  expected = steps[:, 2, :, :2] + 4 / 6 * (steps[:, 3, :, :2] - steps[:, 2, :, :2])
  np.testing.assert_allclose(frames[:, 16, :, :2], expected, rtol=1e-5)
  np.testing.assert_array_equal(frames[:, 13:18, :, 2], np.repeat(steps[:, 2:3, :, 2], 5, 1))
  np.testing.assert_array_equal(futures.interpolate_steps(steps, 1), steps)  # k = 1: as given
  with pytest.raises(ValueError, match="frames_per_step"):
    futures.interpolate_steps(steps, 0)


def test_motion_scores_rank_by_speed_and_the_code_score_is_its_formula():
  still = np.zeros((3, 18, 3), np.float32)
  slow, fast = still.copy(), still.copy()
  slow[1:, :, 0] += np.array([0.01, 0.02])[:, None]
  fast[1:, :, 0] += np.array([0.05, 0.10])[:, None]
  scores = futures.motion_scores(np.stack([still, slow, fast]))
  assert scores[0] == 0 and scores[0] < scores[1] < scores[2]
  np.testing.assert_allclose(scores[2], 18 * 0.10, rtol=1e-5)  # 18 joints, 0.05 + 0.05
  code = futures.motion_scores(fast[None], "code")[0]
  # by hand: dx per step 0.05 for every joint -> |dx| = 0.05 sqrt(18), |dy| = 0
  mags = np.array([(np.exp(0.05 * np.sqrt(18)) - 1.1) / 0.1, (1 - 1.1) / 0.1] * 2)
  directions = 5 * np.sqrt(2)  # two steps, each a unit dx vector times 5 (dy is 0)
  np.testing.assert_allclose(code, np.linalg.norm(mags) * directions, rtol=1e-4)
  with pytest.raises(ValueError, match="score"):
    futures.motion_scores(fast[None], "speed")


def test_selection_recovers_a_mixture_of_known_clusters_biggest_first():
  """800 futures: 3 moving clusters (shares 50/30/20 % of the movers) and still ones; the 10 %
  that move most are the movers, and k-means 3 finds each cluster's mean, biggest first."""
  rng = np.random.default_rng(1)
  centres = rng.uniform(0.2, 0.8, (3, 7, 18, 2)).astype(np.float32)
  centres[:, 0] = centres[0, 0]  # one present pose
  centres[:, 1:] += np.array([0.3, -0.3, 0.25])[:, None, None, None]  # each moves away
  movers = np.repeat(np.arange(3), [40, 24, 16])
  futures_xy = np.concatenate([
      centres[movers] + rng.normal(0, 0.01, (80, 7, 18, 2)),
      np.repeat(centres[:1, :1], 720, 0).repeat(7, 1) + rng.normal(0, 0.001, (720, 7, 18, 2))])
  samples = np.concatenate([futures_xy, np.ones(futures_xy.shape[:-1] + (1,))], -1)
  samples = samples[rng.permutation(800)].astype(np.float32)
  scores = futures.motion_scores(samples)
  chosen, shares = futures.select_futures(samples, scores, 3, np.random.default_rng(0), 0.1)
  assert chosen.shape == (3, 7, 18, 3)
  np.testing.assert_allclose(shares, [0.5, 0.3, 0.2])
  for k in range(3):
    np.testing.assert_allclose(chosen[k, ..., :2], centres[k], atol=0.01)
  np.testing.assert_array_equal(chosen[..., 2], 1.0)
  with pytest.raises(ValueError, match="futures need"):
    futures.select_futures(samples[:2], scores[:2], 3, np.random.default_rng(0), 0.1)


def _trainer(variant="", **pose_vae):
  config = pose_vae_configs.get_config(variant)
  config.pose_vae.update(pose_vae)
  return PoseVAETrainer(config)


def test_windows_take_a_pose_every_step_and_binarise_confidence_as_the_code():
  t = _trainer()
  k = t.frames_per_step
  assert k == 3 and t.window == (2 + 5) * 3 + 1
  rng = np.random.default_rng(0)
  d = t.config.data
  keypoints = rng.uniform(0, 64, (2, d.frames, 18, 3)).astype(np.float32)
  keypoints[..., 2] = rng.choice([0.05, 0.1, 0.11, 0.9], (2, d.frames, 18))
  video = rng.uniform(-1, 1, (2, d.frames, d.height, d.width, 3)).astype(np.float32)
  w = t.split_window({"keypoints": keypoints, "video": video}, 1)
  stepped = keypoints[:, 1:1 + t.window:k]  # frames 1, 4, ..., 22
  np.testing.assert_allclose(w["future_true_poses"][..., :2] * np.array([d.width, d.height]),
                             stepped[:, 2:, :, :2], rtol=1e-5)
  np.testing.assert_array_equal(w["future_true_poses"][..., 2], stepped[:, 2:, :, 2] > 0.1)
  np.testing.assert_array_equal(w["frame"][..., :3], video[:, 1 + 2 * k])  # X_t
  assert set(np.unique(w["past_poses"][..., 2])) <= {0.0, 1.0}
  raw = _trainer(confidence_threshold=None).split_window(
      {"keypoints": keypoints, "video": video}, 1)
  np.testing.assert_allclose(raw["past_poses"][..., 2], stepped[:, 1:3, :, 2])


def test_paper_widths_and_steps_are_the_codes():
  """opts.lua: hiddenSize 1024, LSTMLayers 2, vaeHidden 512, encoderSize 20 (= 5 steps x 4),
  numDecSteps 2, numSteps 5, timestep 30 (6 frames a step), batchsize 32, learningRate 1e-3."""
  c = pose_vae_configs.get_config("paper")
  p = c.pose_vae
  assert (p.hidden, p.num_layers, p.posterior_hidden, p.latent * p.future_steps) == (
      1024, 2, 512, 20)
  assert (p.past_steps, p.future_steps, p.frames_per_step) == (2, 5, 6)
  assert p.future_steps * p.frames_per_step == 30
  assert (c.train.batch_size, c.optim.learning_rate, p.confidence_threshold) == (32, 1e-3, 0.1)
  assert p.shared_embeddings is False and p.posterior == "code"


def test_short_clips_and_mismatched_branch_steps_are_errors_at_start_up():
  with pytest.raises(UserError, match="frames_per_step \\+ 1 = 22"):
    config = pose_vae_configs.get_config()
    config.data.frames = 16
    PoseVAETrainer(config)
  with pytest.raises(UserError, match="branch_step_frames=1"):
    config = pose_vae_configs.get_config("branching")
    config.data.branch_step_frames = 1
    PoseVAETrainer(config)
  with pytest.raises(UserError, match="frames_per_step must be >= 1"):
    _trainer(frames_per_step=0)


def test_branching_dancer_branches_after_two_steps_of_the_given_frames():
  from jaxvid.data import synthetic_dancer
  clip = synthetic_dancer.render_clip(5, 3, 22, 32, 32, branching=True, step_frames=3)
  b = synthetic_dancer.branch_frame(3)
  assert b == 6
  branches = clip["branch_keypoints"]
  np.testing.assert_array_equal(branches[:, :b + 1], np.broadcast_to(branches[:1, :b + 1],
                                                                      branches[:, :b + 1].shape))
  assert not np.allclose(branches[0, b + 1], branches[1, b + 1])
  # the moves are complete 5 steps (15 frames) after the branch: no further change after it
  ramp = synthetic_dancer._move_ramps("arms_up", 30, 3)["arm_raise"]
  assert ramp[b] == 0 and ramp[b + 15] == pytest.approx(1.7) and ramp[-1] == pytest.approx(1.7)
  assert 0 < ramp[b + 14] < 1.7


def test_workdirs_from_before_the_options_keep_their_architecture_record():
  """A config.json without frames_per_step / shared_embeddings / confidence_threshold reads as
  it was trained (one frame a step, shared embeddings, raw confidence), and its architecture
  record is the one its checkpoints hold; the new defaults are recorded."""
  old = pose_vae_configs.get_config()
  for key in ("frames_per_step", "shared_embeddings", "confidence_threshold"):
    del old.pose_vae[key]
  old.data.frames = 16
  t = PoseVAETrainer(old)
  assert (t.frames_per_step, t.confidence_threshold, t.window) == (1, None, 8)
  record = t.metadata()["architecture"]
  assert "frames_per_step" not in record and "shared_embeddings" not in record
  new = _trainer().metadata()["architecture"]
  assert (new["frames_per_step"], new["shared_embeddings"]) == (3, False)
