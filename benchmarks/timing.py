"""Timing of one model's jitted train step, shared by the benchmark scripts (no flags here)."""
from __future__ import annotations

import os
import statistics
import time

import jax
import jax.numpy as jnp

from benchmarks.flops import forward_flops, gan_step_flops
from jaxvid import parallel
from jaxvid.data import pipeline
from jaxvid.models import unet3d
from jaxvid.trainers import get_trainer


# Dense bf16 peak FLOP/s of accelerators (tensor cores / MXUs), used for MFU.
ACCELERATOR_PEAK_TFLOPS = {
    "NVIDIA H100 80GB HBM3": 989.0,  # SXM
    "NVIDIA H200": 989.0,
    "TPU v4": 275.0,
    "TPU v5 lite": 197.0,  # v5e
}


def cpu_flops_per_cycle(flags: set, vendor: str, dtype: str, family: int = 0) -> int:
  """Peak FLOP per cycle per core from the ISA (FMA = 2 FLOP).

  float32: AVX-512 on Intel server cores and AMD Zen 5 (family 26: 512-bit datapaths) = 2 x
  512-bit FMA units = 64; AVX-512 on AMD Zen 4 (family 25, 256-bit halves) and AVX2 + FMA = 2 x
  256-bit FMA = 32; otherwise 8 (SSE). bfloat16: Intel AMX = 1024 (the TMUL unit's 1024 bf16
  FLOP/cycle); AVX512_BF16 without AMX = 2 x the float32 rate; otherwise float32.
  """
  if "avx512f" in flags:
    fp32 = 64 if vendor == "GenuineIntel" or (vendor == "AuthenticAMD" and family >= 26) else 32
  elif "avx2" in flags and "fma" in flags:
    fp32 = 32
  else:
    fp32 = 8
  if dtype == "bfloat16":
    if "amx_bf16" in flags:
      return 1024
    if "avx512_bf16" in flags:
      return 2 * fp32
  return fp32


def cpu_peak_tflops(dtype: str = "float32") -> tuple[float, str]:
  """This CPU's peak from /proc/cpuinfo: usable cores x clock x FLOP/cycle (and how it was got)."""
  try:
    with open("/proc/cpuinfo") as f:
      info = f.read()
  except OSError:
    return float("nan"), "no /proc/cpuinfo: pass --peak_tflops"
  field = lambda name: next((line.split(":", 1)[1].strip() for line in info.splitlines()
                             if line.startswith(name)), "")
  cores = len(os.sched_getaffinity(0))
  ghz = float(field("cpu MHz") or "nan") / 1e3
  family = int(field("cpu family") or 0)
  flags = set(field("flags").split())
  per_cycle = cpu_flops_per_cycle(flags, field("vendor_id"), dtype, family)
  peak = cores * ghz * per_cycle / 1e3
  return peak, f"{cores} cores x {ghz:.2f} GHz x {per_cycle} {dtype} FLOP/cycle ({field('model name')})"


def device_peak_tflops(dtype: str = "float32", override: float = 0.0) -> tuple[float, str]:
  """(peak TFLOP/s, where it comes from) for MFU on the default device."""
  if override:
    return override, "--peak_tflops"
  device = jax.devices()[0]
  if device.platform == "cpu":
    return cpu_peak_tflops(dtype)
  peak = ACCELERATOR_PEAK_TFLOPS.get(device.device_kind, float("nan"))
  return peak, (f"{device.device_kind} dense bf16 (ACCELERATOR_PEAK_TFLOPS; MFU of every dtype is "
                f"against it)")


def model_step_flops(trainer, state, batch) -> int:
  """Model FLOPs of one train step: each network's forward counted per layer from the shapes it
  is called with (flops.forward_flops), times how often the step runs it, with a backward pass
  counted as 2 x its forward (weights + inputs):
    VGAN, conditional VGAN, pose GAN   3 G + 8 D (flops.gan_step_flops; the pose GAN's G and D
                                       each see half the batch per pass with split_batch='halves')
    EDN stage 1                        6 G + 9 D + 6 V: G on frames t-1 and t, forward and
                                       backward; D step: D on the real and on the generated pair,
                                       forward and backward; G step: D on the generated pair,
                                       forward and input gradient, and on the real pair, forward
                                       (feature matching's targets); the perceptual VGG on both
                                       generated frames, forward and input gradient, and on both
                                       real ones, forward
    pose-VAE                           3 x the model's forward (one loss, forward + backward)
  EDN's stage 2 (the face GAN) is not written out: `flops.traced_flops` counts it."""
  video = batch["video"]
  if trainer.name == "edn":
    if trainer.config.edn.stage != 1:
      raise ValueError("model_step_flops writes out EDN's stage 1; count stage 2 with "
                       "flops.traced_flops")
    pose = trainer.skeletons(batch["keypoints"][:, 0])
    frame = video[:, 0]
    g_input = (jnp.concatenate([pose, frame], -1) if trainer.config.edn.temporal else pose)
    g = forward_flops(trainer.generator, {"params": state.g_params}, g_input)
    d = forward_flops(trainer.discriminator, {"params": state.d_params},
                      trainer.discriminator_input(pose, pose, frame, frame))
    vgg, vgg_params = trainer.perceptual_backbone
    v = forward_flops(vgg, {"params": vgg_params}, frame)
    return 6 * g + 9 * d + 6 * v
  if trainer.name == "pose_vae":
    w = trainer.split_window(batch, 0)
    return 3 * forward_flops(trainer.model, {"params": state.params,
                                             "batch_stats": state.batch_stats},
                             w["frame"], w["past_poses"], w["past_motion"], w["future_poses"],
                             w["future_motion"], rngs={"latent": jax.random.key(0)})
  g_vars = {"params": state.g_params, "batch_stats": state.g_batch_stats}
  d_vars = {"params": state.d_params, "batch_stats": state.d_batch_stats}
  if trainer.name == "pose_gan":  # 'halves': G and D each see half the batch per pass
    half = video.shape[0] // 2 if trainer.config.pose_gan.split_batch == "halves" else 0
    skeletons = trainer.skeletons(batch["keypoints"][half:])
    g_fwd = forward_flops(trainer.generator, g_vars,
                          unet3d.generator_input(video[half:, 0], skeletons),
                          rngs={"dropout": jax.random.key(0)})
    d_fwd = forward_flops(trainer.discriminator, d_vars, trainer.discriminator_input(video[half:], skeletons))
  else:
    g_fwd = forward_flops(trainer.generator, g_vars,
                          trainer.generator_inputs(jax.random.key(0), video))
    d_fwd = forward_flops(trainer.discriminator, d_vars, video)
  return gan_step_flops(g_fwd, d_fwd)


def time_config(config, steps: int) -> dict:
  trainer = get_trainer(config)
  mesh = parallel.make_mesh()
  repl, sharded = parallel.replicated(mesh), parallel.batch_sharded(mesh)
  state = jax.jit(trainer.init_state, out_shardings=repl)(jax.random.key(config.seed))
  data = pipeline.make_train_iterator(config)
  batches = [parallel.host_batch_to_global(next(data), mesh) for _ in range(2)]
  data.close()
  step = jax.jit(trainer.train_step, in_shardings=(repl, sharded), out_shardings=(repl, repl),
                 donate_argnums=0)
  t0 = time.perf_counter()
  compiled = step.lower(state, batches[0]).compile()
  compile_s = time.perf_counter() - t0
  from benchmarks.models import model_flops  # EDN's stage 2 from the jaxpr
  flops, _ = model_flops(config, trainer, state, batches[0])
  state, metrics = compiled(state, batches[0])  # warm-up
  jax.block_until_ready(metrics)
  times = []
  for i in range(steps):
    t0 = time.perf_counter()
    state, metrics = compiled(state, batches[i % 2])
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - t0)
  median = statistics.median(times)
  return {"compile_s": compile_s, "step_s": median, "flops": flops,
          "samples_per_s": config.train.batch_size / median,
          "tflops_per_s": flops / median / 1e12}
