"""The FLOP counter behind the MFU numbers (benchmarks/flops.py)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from flops import forward_flops, gan_step_flops, traced_flops  # benchmarks/ on sys.path (conftest)
from jaxvid.models import layers


class _Two(nn.Module):
  @nn.compact
  def __call__(self, x):
    x = layers.Conv(8, (4, 4, 4), (2, 2, 2), 1)(x)  # out 2x4x4 voxels
    return layers.ConvTranspose(3, (4, 4, 4), (2, 2, 2), 1)(x)  # in 2x4x4 voxels


def test_conv_flops_follow_the_convention():
  x = jnp.zeros((2, 4, 8, 8, 5))
  module = _Two()
  variables = module.init(jax.random.key(0), x)
  conv = 2 * (2 * 2 * 4 * 4) * 64 * 5 * 8  # 2 * batch*out voxels * taps * c_in * c_out
  conv_t = 2 * (2 * 2 * 4 * 4) * 64 * 8 * 3  # transposed: per *input* voxel
  assert forward_flops(module, variables, x) == conv + conv_t
  assert gan_step_flops(10, 100) == 3 * 10 + 8 * 100


def test_traced_flops_count_the_work_without_the_dilation_zeros():
  """The jaxpr count of a forward pass equals the layer convention in both conv forms (the
  literal transposed conv's lhs dilation inserts zeros that are not counted), and a gradient
  adds the backward's two convs per layer."""
  x = jnp.zeros((2, 4, 8, 8, 5))
  conv = 2 * (2 * 2 * 4 * 4) * 64 * 5 * 8
  conv_t = 2 * (2 * 2 * 4 * 4) * 64 * 8 * 3
  for impl in ("literal", "fast"):
    class Two(nn.Module):
      @nn.compact
      def __call__(self, x):
        x = layers.Conv(8, (4, 4, 4), (2, 2, 2), 1, impl=impl)(x)
        return layers.ConvTranspose(3, (4, 4, 4), (2, 2, 2), 1, impl=impl)(x)
    variables = Two().init(jax.random.key(0), x)
    assert traced_flops(lambda v: Two().apply(v, x), variables) == conv + conv_t
    grad = jax.grad(lambda v: jnp.sum(Two().apply(v, x)))
    # forward + (weight and input gradient) per layer; the first conv needs no input gradient
    assert traced_flops(grad, variables) == 3 * (conv + conv_t) - conv
  a, b = jnp.zeros((3, 4, 5)), jnp.zeros((3, 5, 6))
  assert traced_flops(lambda a, b: jnp.einsum("bij,bjk->bik", a, b), a, b) == 2 * 3 * 4 * 5 * 6


def test_model_table_measures_every_model_kind():
  from models import measure  # benchmarks/models.py
  import os
  from train_test import REPO
  for name in ("vgan.py", "pose_vae.py", "pose_gan.py", "edn.py"):
    r = measure(os.path.join(REPO, "configs", name) + ":tiny", 1, False, {})
    assert r["step_s"] > 0 and r["compile_s"] > 0 and r["peak_gib"] > 0 and r["xla_flops"] > 0
    assert r["model_flops"] > 0
  r = measure(os.path.join(REPO, "configs", "vgan.py") + ":tiny", 1, True,
              {"train.batch_size": "8"})
  assert "step_s" not in r and r["batch"] == 8


def test_cpu_peak_follows_the_isa():
  from timing import cpu_flops_per_cycle, cpu_peak_tflops
  intel = {"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"}
  assert cpu_flops_per_cycle(intel, "GenuineIntel", "float32") == 64
  assert cpu_flops_per_cycle(intel, "GenuineIntel", "bfloat16") == 1024
  zen4 = {"avx2", "fma", "avx512f", "avx512_bf16"}
  assert cpu_flops_per_cycle(zen4, "AuthenticAMD", "float32") == 32
  assert cpu_flops_per_cycle(zen4, "AuthenticAMD", "bfloat16") == 64
  assert cpu_flops_per_cycle(zen4, "AuthenticAMD", "float32", family=25) == 32
  assert cpu_flops_per_cycle(zen4, "AuthenticAMD", "float32", family=26) == 64  # Zen 5
  assert cpu_flops_per_cycle({"avx2", "fma"}, "AuthenticAMD", "bfloat16") == 32
  assert cpu_flops_per_cycle(set(), "", "float32") == 8
  peak, source = cpu_peak_tflops("float32")
  assert 0.001 < peak < 100 and "cores" in source  # this machine, whatever it is


def test_mode_statistics_count_hits_and_frequencies():
  from pose_forecast import mode_statistics  # benchmarks/pose_forecast.py
  rng = np.random.default_rng(0)
  branches = rng.normal(0, 10, (4, 3, 5, 18, 2))  # 4 clips, 3 moves
  modes = np.array([0, 1, 2, 0])
  # clip 0-2: samples on moves (0, 1, 2, 0), clip 3: only move 1, each with a little noise
  picks = np.array([[0, 1, 2, 0], [0, 1, 2, 0], [0, 1, 2, 0], [1, 1, 1, 1]])
  samples = np.stack([branches[c, picks[c]] for c in range(4)]) + rng.normal(0, 0.1, (4, 4, 5, 18, 2))
  stats = mode_statistics(samples, branches, modes)
  assert stats["mode_hit_rate"] == 0.75
  np.testing.assert_allclose(stats["sampled_mode_freq"], [6 / 16, 7 / 16, 3 / 16])
  np.testing.assert_allclose(stats["true_mode_freq"], [0.5, 0.25, 0.25])
  np.testing.assert_allclose(stats["mode_freq_max_abs_dev"], 3 / 16)


def test_pose_forecast_reports_the_issue_keys(tmp_path):
  from pose_forecast import evaluate, write_figure  # benchmarks/pose_forecast.py
  from train_test import load_config
  from jaxvid import checkpoint as ckpt_lib, train
  from jaxvid.data import pipeline
  from jaxvid.trainers import get_trainer
  config = load_config("pose_vae.py", data__branching=True)
  train.train_and_evaluate(config, str(tmp_path))
  trainer = get_trainer(config)
  _, state = ckpt_lib.load_latest(trainer, str(tmp_path))
  clips = pipeline.make_sample_batch(config, config.data.num_test)
  results, extra = evaluate(trainer, state, clips, num_samples=3)
  assert set(results) == {"best_of_n_px", "mean_of_n_px", "constant_velocity_px",
                          "zero_velocity_px", "err_posterior_px", "err_prior_px", "err_zero_z_px",
                          "active_units", "mode_hit_rate", "mode_freq_max_abs_dev"}
  assert results["best_of_n_px"] <= results["mean_of_n_px"] == results["err_prior_px"]
  assert 0 <= results["mode_hit_rate"] <= 1 and 0 <= results["active_units"] <= 20
  assert len(extra["unit_kl_nats"]) == config.pose_vae.future_steps * config.pose_vae.latent
  import imageio.v2 as imageio
  path = write_figure(trainer, state, clips, str(tmp_path / "modes.gif"), 2, 3)
  assert len(imageio.mimread(path)) == config.pose_vae.future_steps + 1


def test_vgan_stream_measures_tell_a_mask_on_the_mover_from_a_flat_one():
  from vgan_streams import checker_response, per_clip, roc_auc  # benchmarks/vgan_streams.py
  from jaxvid.data import synthetic_scenes
  assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
  assert roc_auc(np.array([0.5, 0.5, 0.5]), np.array([0, 1, 1])) == 0.5
  checker = np.indices((4, 4)).sum(0) % 2 * 2.0 - 1.0  # +-1 alternating
  assert np.allclose(checker_response(np.repeat(checker[..., None], 3, -1)), 1.0)
  assert np.allclose(checker_response(np.full((4, 4, 3), 0.3)), 0.0)
  video, sprites = synthetic_scenes.render_clip(0, 1, 8, 32, 32, with_mask=True)
  assert video.shape == (8, 32, 32, 3) and sprites.shape == (8, 32, 32)
  assert np.array_equal(video, synthetic_scenes.render_clip(0, 1, 8, 32, 32))  # same clip
  assert 0.01 < sprites.mean() < 0.5
  video = synthetic_scenes.to_model_range(video)[None]
  true = per_clip(video, sprites[None], None)
  flat = per_clip(video, np.full_like(sprites, 0.5)[None], np.zeros_like(video))
  assert true["mask AUC on motion"][0] > 0.8 and flat["mask AUC on motion"][0] == 0.5
  assert true["mask where static"][0] < 0.05 and flat["mask where static"][0] == 0.5
  assert flat["checkerboard f, m>0.5"][0] == 0.0 or np.isnan(flat["checkerboard f, m>0.5"][0])


def test_model_table_reads_tuple_overrides_as_literals():
  from models import load_config  # benchmarks/models.py
  import os
  from train_test import REPO
  config = load_config(os.path.join(REPO, "configs", "vgan.py"),
                       {"vgan.g_channels": "(64, 32, 16)", "train.batch_size": "4"})
  assert tuple(config.vgan.g_channels) == (64, 32, 16) and config.train.batch_size == 4


def test_sweep_features_come_back_as_one_file_and_give_fvd(tmp_path, capsys):
  """benchmarks/vgan_features.py: the sweep packs every .npz into one features.npz; --fvd
  unpacks it and prints FVD of each run and of the static baseline, as jaxvid.metrics.fvd."""
  import json
  from vgan_features import pack, print_fvd
  from jaxvid.metrics import fvd as fvd_lib
  rng = np.random.default_rng(0)
  real, static, gen = (rng.normal(size=(40, 6)) + shift for shift in (0.0, 0.5, 1.0))
  (tmp_path / "feats").mkdir()
  np.savez(tmp_path / "feats" / "real_ds.npz", real=real, static=static)
  np.savez(tmp_path / "feats" / "run_004800.npz", generated=gen, dataset="ds")
  pack(str(tmp_path / "feats"), str(tmp_path / "features.npz"))
  print_fvd(str(tmp_path / "features.npz"))
  rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert set(rows) == {"run_004800", "static ds"}
  np.testing.assert_allclose(rows["run_004800"]["fvd"], fvd_lib.fvd(gen, real), rtol=1e-9)
  np.testing.assert_allclose(rows["static ds"]["fvd"], fvd_lib.fvd(static, real), rtol=1e-9)
  assert rows["static ds"]["fvd"] < rows["run_004800"]["fvd"]
