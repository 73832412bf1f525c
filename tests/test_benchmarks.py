"""The FLOP counter behind the MFU numbers (benchmarks/flops.py)."""
import flax.linen as nn
import jax
import jax.numpy as jnp

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


def test_model_table_measures_every_model_kind():
  from benchmarks.models import measure
  import os
  from helpers import REPO
  r_vgan = None
  for name in ("vgan.py", "pose_vae.py", "pose_gan.py", "edn.py"):
    r = measure(os.path.join(REPO, "configs", name) + ":tiny", 1, False, {})
    r_vgan = r if name == "vgan.py" else r_vgan
    assert r["step_s"] > 0 and r["compile_s"] > 0 and r["peak_gib"] > 0 and r["xla_flops"] > 0
    assert r["model_flops"] > 0
    assert r["flops_counted_from"] == ("layers" if name == "vgan.py" else "jaxpr")
  # the jaxpr's count beside VGAN's: the same work, give or take how jax differentiates
  assert 0.8 < r_vgan["jaxpr_flops"] / r_vgan["model_flops"] < 1.25
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
