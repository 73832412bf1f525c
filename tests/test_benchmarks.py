"""The FLOP counter behind the MFU numbers (benchmarks/flops.py)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.flops import forward_flops, gan_step_flops, traced_flops
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


def test_vgan_flops_from_the_layer_list_pin_paper_and_match_the_models_layers():
  """VGAN's model FLOPs (benchmarks/analytic_flops.py) written out here once more, by hand
  from the paper's layer list, for `:paper`; and equal to what the model's layers compute
  (flops.forward_flops intercepts every conv) for the paper, the demo and the one stream."""
  from benchmarks import analytic_flops
  from benchmarks.timing import model_step_flops
  from benchmarks.models import fake_batch
  from jaxvid import trainers
  from helpers import load_config
  # per clip, 32 x 64 x 64, z 100, G (512, 256, 128, 64), D (64, 128, 256, 512)
  bg = 2 * 16 * 100 * 512 + 2 * 16 * 16 * 512 * 256 + 2 * 64 * 16 * 256 * 128 \
      + 2 * 256 * 16 * 128 * 64 + 2 * 1024 * 16 * 64 * 3
  fg = 2 * 32 * 100 * 512 + 2 * 32 * 64 * 512 * 256 + 2 * 256 * 64 * 256 * 128 \
      + 2 * 2048 * 64 * 128 * 64 + 2 * 16384 * 64 * 64 * (3 + 1)  # f and m heads
  d = 2 * 16384 * 64 * 3 * 64 + 2 * 2048 * 64 * 64 * 128 + 2 * 256 * 64 * 128 * 256 \
      + 2 * 32 * 64 * 256 * 512 + 2 * 32 * 512 * 1
  paper = load_config("vgan.py", variant="paper")
  assert analytic_flops.vgan_forward(paper) == (bg + fg, d)
  assert analytic_flops.vgan_step(paper) == 64 * (3 * (bg + fg) + 8 * d) == 2_995_760_660_480
  for variant, options in (("paper", {}), ("", {}), ("", {"streams": "one"}),
                           ("", {"upsample": "resize_out", "minibatch_std": True})):
    config = load_config("vgan.py", variant=variant)
    config.vgan.update(options)
    trainer = trainers.get_trainer(config)
    state = jax.eval_shape(trainer.init_state, jax.random.key(0))
    assert model_step_flops(trainer, state, fake_batch(config)) == \
        analytic_flops.vgan_step(config), (variant, options)


# Model FLOPs per step of each `:paper` config, counted per layer (timing.model_step_flops);
# a change of layers, shapes or multiplicities must show here. The step's jaxpr
# (flops.traced_flops, jax 0.10.2) gave, for reference: pose_gan 2,715.8, edn 2,020.8,
# pose_vae 40.7, vgan_cond 5,712.2 GFLOP.
PAPER_STEP_FLOPS = {"pose_gan.py": 1_376_718_422_016, "edn.py": 1_939_898_843_136,
                    "pose_vae.py": 97_970_720_256, "vgan_cond.py": 5_764_131_323_904}


def test_every_paper_config_has_its_model_flops_counted_per_layer():
  """Counted without the jaxpr, pinned, and within 10 % of the jaxpr's count (the jaxpr counts
  what autodiff happens to compute: no input gradient where none is needed, and one jax
  version's extra convs); EDN's generator also written out by hand from pix2pixHD's layers."""
  from benchmarks.flops import forward_flops, traced_flops
  from benchmarks.models import fake_batch, model_flops
  from jaxvid import trainers
  from helpers import load_config
  for name, pinned in PAPER_STEP_FLOPS.items():
    config = load_config(name, variant="paper")
    trainer = trainers.get_trainer(config)
    state = jax.eval_shape(trainer.init_state, jax.random.key(0))
    batch = fake_batch(config)
    flops, how = model_flops(config, trainer, state, batch)
    assert (flops, how) == (pinned, "layers"), name
    assert 0.9 < traced_flops(trainer.train_step, state, batch) / flops < 1.1, name
    if name == "edn.py":  # global G, ngf 64, 4 down, 9 blocks, 256 x 512, 6 channels in
      h, w, c = 256, 512, [64, 128, 256, 512, 1024]
      g = 2 * h * w * 49 * 6 * 64 + 2 * h * w * 49 * 64 * 3  # the 7x7 in and out convs
      for i in range(4):  # 3x3 s2 down to (h, w) / 2^(i+1); transposed 3x3 up from there
        pixels = (h >> (i + 1)) * (w >> (i + 1))
        g += 2 * pixels * 9 * c[i] * c[i + 1] + 2 * pixels * 9 * c[i + 1] * c[i]
      g += 9 * 2 * 2 * (h >> 4) * (w >> 4) * 9 * 1024 * 1024  # 9 blocks of two 3x3 convs
      pose = jnp.zeros((1, h, w, 6))
      assert forward_flops(trainer.generator, {"params": state.g_params}, pose) == g


def test_model_table_measures_every_model_kind():
  from benchmarks.models import measure
  import os
  from helpers import REPO
  for name in ("vgan.py", "pose_vae.py", "pose_gan.py", "edn.py"):
    r = measure(os.path.join(REPO, "configs", name) + ":tiny", 1, False, {})
    assert r["step_s"] > 0 and r["compile_s"] > 0 and r["peak_gib"] > 0 and r["xla_flops"] > 0
    assert r["model_flops"] > 0 and r["flops_counted_from"] == "layers"
    # the jaxpr's count beside it: the same work, give or take how jax differentiates
    assert 0.8 < r["jaxpr_flops"] / r["model_flops"] < 1.25, name
  r = measure(os.path.join(REPO, "configs", "vgan.py") + ":tiny", 1, True,
              {"train.batch_size": "8"})
  assert "step_s" not in r and r["batch"] == 8


def test_cpu_peak_follows_the_isa():
  from benchmarks.timing import cpu_flops_per_cycle, cpu_peak_tflops
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


def test_model_table_reads_tuple_overrides_as_literals():
  from benchmarks.models import load_config
  import os
  from helpers import REPO
  config = load_config(os.path.join(REPO, "configs", "vgan.py"),
                       {"vgan.g_channels": "(64, 32, 16)", "train.batch_size": "4"})
  assert tuple(config.vgan.g_channels) == (64, 32, 16) and config.train.batch_size == 4
  # bool('False') is True: the demo's spectral norm stayed on under 'vgan.spectral_norm=False'
  assert load_config(os.path.join(REPO, "configs", "vgan.py"),
                     {"vgan.spectral_norm": "False"}).vgan.spectral_norm is False
  assert load_config(os.path.join(REPO, "configs", "vgan.py:paper"),
                     {"vgan.spectral_norm": "true"}).vgan.spectral_norm is True
  with pytest.raises(ValueError, match="expected true or false"):
    load_config(os.path.join(REPO, "configs", "vgan.py"), {"vgan.spectral_norm": "off"})


def test_interleave_takes_turns_and_reports_medians_spread_and_the_first_call():
  from benchmarks import interleave
  now, calls = [0.0], []
  cost = {"a": [1.0, 1.0, 1.0, 2.0, 2.0], "b": [9.0, 3.0, 3.0, 5.0, 5.0]}

  def side(name):
    def call():
      calls.append(name)
      now[0] += cost[name][sum(c == name for c in calls) - 1]
    return call

  out = interleave.interleave({"a": side("a"), "b": side("b")}, repeats=2, steps=2,
                              clock=lambda: now[0])
  # one warm-up each, then a a b b, twice: the two sides alternate, never one after the other
  assert calls == ["a", "b", "a", "a", "b", "b", "a", "a", "b", "b"]
  assert out["a"]["times"] == [1.0, 1.0, 2.0, 2.0] and out["b"]["first_s"] == 9.0
  assert out["a"]["median_s"] == 1.5 and out["a"]["spread_s"] == (1.0, 2.0)
  assert out["b"]["median_s"] == 4.0 and out["b"]["spread_s"] == (3.0, 5.0)
  with pytest.raises(ValueError, match="repeats"):
    interleave.interleave({"a": side("a")}, repeats=0, steps=1)


def test_others_cpu_share_counts_only_other_processes(monkeypatch):
  from benchmarks import interleave
  system, own, wall = [100.0], [10.0], [0.0]
  monkeypatch.setattr(interleave, "_system_busy_seconds", lambda: system[0])
  monkeypatch.setattr(interleave, "_own_seconds", lambda: own[0])
  monkeypatch.setattr(interleave.time, "perf_counter", lambda: wall[0])
  monkeypatch.setattr(interleave.os, "cpu_count", lambda: 4)
  share = interleave.OthersCpuShare()
  with share:  # 2 s of wall: the machine did 5 CPU-s, 3 of them ours -> others 2 of 8
    system[0] += 5.0
    own[0] += 3.0
    wall[0] += 2.0
  assert share.value == pytest.approx(0.25)
  with share:  # a quiet second block halves the share over both
    system[0] += 2.0
    own[0] += 2.0
    wall[0] += 2.0
  assert share.value == pytest.approx(0.125)
  assert interleave.busy(0.05, 0.125) and not interleave.busy(0.05, None, 0.1)
  monkeypatch.setattr(interleave, "_system_busy_seconds", lambda: None)  # not Linux
  assert interleave.OthersCpuShare().value is None


def test_side_by_side_gives_both_sides_one_batch_and_the_same_layers():
  from benchmarks import pytorch_side_by_side as side
  from jaxvid import config_defaults
  demo = config_defaults.load("configs/vgan.py")
  assert demo.vgan.spectral_norm and demo.vgan.upsample == "resize"
  config = side.jax_side_config(demo)  # the stabilisers off: PyTorch's layers are the paper's
  assert not config.vgan.spectral_norm and config.vgan.upsample == "transposed"
  assert config.vgan.diffaugment == "" and config.vgan.ema_decay == 0.0
  assert config.vgan.g_channels == demo.vgan.g_channels and demo.vgan.spectral_norm
  batch = side.same_batch(config, seed=3)
  np.testing.assert_array_equal(batch["video"], side.same_batch(config, seed=3)["video"])
  assert batch["video"].shape == (8, 16, 32, 32, 3) and np.abs(batch["video"]).max() <= 1
  assert np.abs(batch["video"]).mean() > 0.4  # random values, not zeros
  torch_layout = side.channels_first(batch["video"])  # (B, C, T, H, W), the same values
  assert torch_layout.shape == (8, 3, 16, 32, 32) and torch_layout.flags.c_contiguous
  np.testing.assert_array_equal(torch_layout[2, 1, 5, 7, 9], batch["video"][2, 5, 7, 9, 1])
  edn = config_defaults.load("configs/edn.py:tiny")
  poses = side.same_batch(edn, seed=0)
  kp, d = poses["keypoints"], edn.data
  assert kp.shape[-2:] == (18, 3) and (kp[..., 2] == 1).all()
  assert (kp[..., 0] < d.width).all() and (kp[..., 1] < d.height).all() and (kp[..., :2] > 0).all()
  first, second = side.edn_pose_maps(edn, poses)  # jaxvid's rendering of frames 0 and 1
  assert first.shape == (edn.train.batch_size, d.height, d.width, 3) and first.max() > 0
  assert not np.array_equal(first, second)


def test_results_table_prints_the_rows_and_no_ratio_for_a_busy_row():
  from benchmarks.results_table import table
  row = {"model": "VGAN", "config": "configs/vgan.py", "batch": 8, "dtype": "float32",
         "date": "2026-12-04 20:09 UTC", "machine": "x86_64", "jax_device": "cpu",
         "jax_version": "0.10.2", "torch_version": "2.14.1", "repeats": 3, "steps": 5,
         "jax_s": 0.2, "jax_spread_s": [0.19, 0.21], "pytorch": "eager", "pytorch_s": 0.1,
         "pytorch_spread_s": [0.09, 0.11], "ratio": 0.5, "busy": False, "jax_mfu": 0.4,
         "pytorch_mfu": 0.8, "others_cpu_share": 0.02, "pytorch_first_step_s": 0.3}
  text = table([row, {**row, "pytorch": "compile", "busy": True, "ratio": None,
                      "others_cpu_share": 0.54, "pytorch_first_step_s": 33.0}])
  lines = text.splitlines()
  assert lines[0].startswith("- 2026-12-04 20:09 UTC: jax 0.10.2 on cpu, torch 2.14.1")
  assert "| 0.2000 [0.1900, 0.2100] | eager | 0.1000 [0.0900, 0.1100] | **0.50×** |" in lines[-2]
  assert "compile (first step 33 s)" in lines[-1] and "busy: no ratio" in lines[-1]
  assert "54 %" in lines[-1] and "0.50" not in lines[-1]


def test_side_by_side_stops_the_compile_workers_after_a_compile_row_done_or_cut_off(monkeypatch):
  import types
  from benchmarks import pytorch_side_by_side as side
  stops = []
  monkeypatch.setattr(side, "stop_compile_workers", lambda: stops.append(1))
  f = types.SimpleNamespace(torch_device="cpu", compile_limit_s=30)
  calls = []
  make = lambda config, batch, device, variant: (lambda: calls.append(variant))
  got = side.torch_side(None, make, None, None, f, "compile", "float32", lambda: None, False)
  assert got is not None and calls == ["compile"] and stops == [1]
  assert side.torch_side(None, make, None, None, f, "eager", "float32", lambda: None, False)
  assert stops == [1]  # eager and channels-last rows start no workers

  def cut_off():
    raise side._Timeout()
  assert side.torch_side(None, lambda *a: cut_off, None, None, f, "compile", "float32",
                         lambda: None, False) is None
  assert stops == [1, 1]
