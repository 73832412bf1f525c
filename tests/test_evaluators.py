"""The evaluator suites' own measures (jaxvid/evaluators), on constructed inputs and tiny runs."""
import os

import numpy as np

import jaxvid
from jaxvid import api, evaluators, train
from jaxvid.evaluators import pose_forecast, vgan_streams
from jaxvid.evaluators.common import Options
from helpers import load_config


def test_mode_statistics_count_hits_and_frequencies():
  rng = np.random.default_rng(0)
  branches = rng.normal(0, 10, (4, 3, 5, 18, 2))  # 4 clips, 3 moves
  modes = np.array([0, 1, 2, 0])
  # clip 0-2: samples on moves (0, 1, 2, 0), clip 3: only move 1, each with a little noise
  picks = np.array([[0, 1, 2, 0], [0, 1, 2, 0], [0, 1, 2, 0], [1, 1, 1, 1]])
  samples = np.stack([branches[c, picks[c]] for c in range(4)]) + rng.normal(0, 0.1, (4, 4, 5, 18, 2))
  stats = pose_forecast.mode_statistics(samples, branches, modes)
  assert stats["mode_hit_rate"] == 0.75
  np.testing.assert_allclose(stats["sampled_mode_freq"], [6 / 16, 7 / 16, 3 / 16])
  np.testing.assert_allclose(stats["true_mode_freq"], [0.5, 0.25, 0.25])
  np.testing.assert_allclose(stats["mode_freq_max_abs_dev"], 3 / 16)


def test_pose_forecast_reports_the_issue_keys(tmp_path):
  config = load_config("pose_vae.py", data__branching=True)
  train.train_and_evaluate(config, str(tmp_path))
  report = evaluators.run(evaluators.get("pose_forecast"), [jaxvid.load(str(tmp_path))],
                          Options(samples=3, progress=False), api.load)
  results, extra = report["results"], report["details"]
  assert set(results) == {"best_of_n_px", "mean_of_n_px", "constant_velocity_px",
                          "zero_velocity_px", "err_posterior_px", "err_prior_px", "err_zero_z_px",
                          "active_units", "mode_hit_rate", "mode_freq_max_abs_dev"}
  assert results["best_of_n_px"] <= results["mean_of_n_px"] == results["err_prior_px"]
  assert 0 <= results["mode_hit_rate"] <= 1 and 0 <= results["active_units"] <= 20
  assert len(extra["unit_kl_nats"]) == config.pose_vae.future_steps * config.pose_vae.latent
  assert report["clips"] == config.data.num_test
  import imageio.v2 as imageio
  assert report["figure"] == str(tmp_path / "pose_forecast.gif")  # WORKDIR's, by default
  assert len(imageio.mimread(report["figure"])) == config.pose_vae.future_steps + 1
  assert "mode hit rate" in pose_forecast.format_table(report)


def test_vgan_stream_measures_tell_a_mask_on_the_mover_from_a_flat_one():
  from jaxvid.data import synthetic_scenes
  assert vgan_streams.roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
  assert vgan_streams.roc_auc(np.array([0.5, 0.5, 0.5]), np.array([0, 1, 1])) == 0.5
  checker = np.indices((4, 4)).sum(0) % 2 * 2.0 - 1.0  # +-1 alternating
  assert np.allclose(vgan_streams.checker_response(np.repeat(checker[..., None], 3, -1)), 1.0)
  assert np.allclose(vgan_streams.checker_response(np.full((4, 4, 3), 0.3)), 0.0)
  video, sprites = synthetic_scenes.render_clip(0, 1, 8, 32, 32, with_mask=True)
  assert video.shape == (8, 32, 32, 3) and sprites.shape == (8, 32, 32)
  assert np.array_equal(video, synthetic_scenes.render_clip(0, 1, 8, 32, 32))  # same clip
  assert 0.01 < sprites.mean() < 0.5
  video = synthetic_scenes.to_model_range(video)[None]
  true = vgan_streams.per_clip(video, sprites[None], None)
  flat = vgan_streams.per_clip(video, np.full_like(sprites, 0.5)[None], np.zeros_like(video))
  assert true["mask AUC on motion"][0] > 0.8 and flat["mask AUC on motion"][0] == 0.5
  assert true["mask where static"][0] < 0.05 and flat["mask where static"][0] == 0.5
  assert flat["checkerboard f, m>0.5"][0] == 0.0 or np.isnan(flat["checkerboard f, m>0.5"][0])


def test_nearest_training_clip_distance_is_the_brute_force_minimum():
  """A copy of a training clip is at distance 0; otherwise the RMS distance to the nearest."""
  rng = np.random.default_rng(0)
  train = rng.uniform(-1, 1, (7, 2, 3, 3, 3)).astype(np.float32)
  clips = np.concatenate([train[4:5], rng.uniform(-1, 1, (3, 2, 3, 3, 3))]).astype(np.float32)
  got = vgan_streams.nearest_distances(clips, train, chunk=3)  # chunks of 3, 3 and 1
  want = [min(np.sqrt(np.mean((c - t) ** 2)) for t in train) for c in clips]
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3)
  assert got[0] < 2e-3 and got[1:].min() > 0.3


def test_sweep_features_come_back_in_parts_and_give_fvd(tmp_path, capsys):
  """experiments/vgan_features.py: the sweep packs the .npz files into a few features<i>.npz
  (each small enough to come back); --fvd unpacks them all and prints FVD of each run and of
  the static baseline, as jaxvid.metrics.fvd."""
  import json
  from experiments.vgan_features import pack, print_fvd
  from jaxvid.metrics import fvd as fvd_lib
  rng = np.random.default_rng(0)
  real, static, gen = (rng.normal(size=(40, 6)) + shift for shift in (0.0, 0.5, 1.0))
  (tmp_path / "feats").mkdir()
  np.savez(tmp_path / "feats" / "real_ds.npz", real=real, static=static)
  np.savez(tmp_path / "feats" / "run_004800.npz", generated=gen, dataset="ds")
  np.savez(tmp_path / "feats" / "run_009600.npz", generated=gen + 1, dataset="ds")
  parts = pack(str(tmp_path / "feats"), str(tmp_path / "features.npz"), parts=2)
  assert [os.path.basename(p) for p in parts] == ["features0.npz", "features1.npz"]
  print_fvd(",".join(parts))
  rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert set(rows) == {"run_004800", "run_009600", "static ds"}
  np.testing.assert_allclose(rows["run_004800"]["fvd"], fvd_lib.fvd(gen, real), rtol=1e-9)
  np.testing.assert_allclose(rows["static ds"]["fvd"], fvd_lib.fvd(static, real), rtol=1e-9)
  assert rows["static ds"]["fvd"] < rows["run_004800"]["fvd"]


def test_vgan_streams_suite_reports_every_sampling_beside_the_true_masks(tmp_path):
  train.train_and_evaluate(load_config("vgan.py"), str(tmp_path))
  report = evaluators.run(evaluators.get("vgan_streams"), [jaxvid.load(str(tmp_path))],
                          Options(num_videos=4, fvd=False, progress=False), api.load)
  rows = report["rows"]
  assert list(rows) == ["real clips, true sprite mask", "batch statistics of 4",
                        "batch statistics of 64", "running averages"]
  real = rows["real clips, true sprite mask"]
  assert real["mask AUC on motion"]["mean"] > 0.8 and "checkerboard f, m>0.5" not in real
  for name in list(rows)[1:]:
    row = rows[name]
    assert 0 <= row["mask mean"]["mean"] <= 1 and row["mask mean"]["n"] == 4
    assert row["mask mean"]["low"] <= row["mask mean"]["mean"] <= row["mask mean"]["high"]
  assert "fvd" not in report and "running averages" in vgan_streams.format_table(report)
  near = report["nearest training clip"]  # held-out clips are new scenes: never at 0
  assert set(near) == {"generated", "held-out real"} and near["held-out real"]["mean"] > 0.05
  assert "nearest training clip, generated" in vgan_streams.format_table(report)
  import pytest
  from jaxvid.errors import UserError
  with pytest.raises(UserError, match="test split has 4 clips"):
    evaluators.run(evaluators.get("vgan_streams"), [jaxvid.load(str(tmp_path))],
                   Options(num_videos=5, fvd=False, progress=False), api.load)
