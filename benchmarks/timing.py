"""Timing of one model's jitted train step, shared by the benchmark scripts (no flags here)."""
from __future__ import annotations

import statistics
import time

import jax

from flops import forward_flops, gan_step_flops  # benchmarks/flops.py
from jaxvid import parallel
from jaxvid.data import pipeline
from jaxvid.models import unet3d
from jaxvid.trainers import get_trainer


# Dense peak FLOP/s used for MFU (float32 on CPU; bf16 dense tensor-core figures on accelerators).
PEAK_TFLOPS = {
    # This CI/dev machine: 2 cores of an AMD EPYC Zen 4 at 2.6 GHz; 2 x 256-bit FMA pipes
    # = 32 fp32 FLOP/cycle/core -> 2 * 2.6e9 * 32 = 166 GFLOP/s.
    "cpu": 0.166,
    "NVIDIA H100 80GB HBM3": 989.0,  # bf16 dense, SXM
    "NVIDIA H200": 989.0,
    "TPU v4": 275.0,
    "TPU v5 lite": 197.0,  # v5e
}


def model_step_flops(trainer, state, batch) -> int:
  """Model FLOPs of one GAN iteration (one D step + one G step)."""
  g_vars = {"params": state.g_params, "batch_stats": state.g_batch_stats}
  d_vars = {"params": state.d_params, "batch_stats": state.d_batch_stats}
  video = batch["video"]
  if trainer.name == "pose_gan":  # G and D each see half the batch per pass
    half = video.shape[0] // 2
    skeletons = trainer.skeletons(batch["keypoints"][half:])
    g_fwd = forward_flops(trainer.generator, g_vars,
                          unet3d.generator_input(video[half:, 0], skeletons))
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
  flops = model_step_flops(trainer, state, batches[0])
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
