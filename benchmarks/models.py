"""One table for every model's train step: compile time, step time, samples/s, FLOPs, MFU, memory.

  python -m benchmarks.models                                   # the default configs (CPU: ~3 min)
  python -m benchmarks.models --configs=configs/vgan.py:paper,configs/edn.py:paper --compile_only

Batches are zeros of the config's shapes (no dataset is built), so only the step is measured.
FLOPs: XLA's cost analysis of the compiled step ('xla': it also counts the zeros of transposed
convs' dilated inputs), and the model FLOPs MFU uses: VGAN's written out layer by layer
(`analytic_flops.vgan_step`), the other models' counted per layer from the shapes each network
is called with, times the step's multiplicities (`timing.model_step_flops`); the step's jaxpr
count (`flops.traced_flops`, which depends on how a jax version differentiates) in the JSON
beside it as a cross-check (EDN's stage 2 is counted from the jaxpr alone).
MFU = model FLOPs / step time / the device's peak
(`device_peak_tflops` in timing.py: on a CPU from its cores, clock and ISA). Memory: XLA's memory analysis of the compiled step, arguments +
outputs + temporaries - donated aliases = the peak the step needs (on accelerators: of HBM).
`--compile_only` skips running (paper sizes on a CPU): it reports compile time and memory.
"""
from __future__ import annotations

import ast
import json
import statistics
import time

import jax
import jax.numpy as jnp
from absl import app, flags

from jaxvid import config_defaults, parallel
from jaxvid.trainers import get_trainer

DEFAULTS = ["configs/vgan.py", "configs/pose_vae.py", "configs/pose_gan.py", "configs/edn.py"]


def fake_batch(config):
  d = config.data
  b, t = config.train.batch_size, d.frames
  return {"video": jnp.zeros((b, t, d.height, d.width, 3)),
          "keypoints": jnp.concatenate([jnp.full((b, t, 18, 2), d.height / 2.0),
                                        jnp.ones((b, t, 18, 1))], -1),
          "face_box": jnp.tile(jnp.array([0.0, 0.0, 16.0, 16.0]), (b, t, 1))}


def model_flops(config, trainer, state, batch) -> tuple[int, str]:
  """(model FLOPs of one step, how counted): unconditional VGAN's written out from its layer
  list (benchmarks/analytic_flops.py), the other models' counted per layer from the shapes
  each network is called with, times the step's multiplicities (timing.model_step_flops); both
  independent of the jax version. EDN's stage 2 alone is read off the step's jaxpr
  (flops.traced_flops), which a jax version's differentiation can change."""
  from benchmarks import analytic_flops
  from benchmarks.flops import traced_flops
  from benchmarks.timing import model_step_flops
  if config.model == "vgan" and not config.vgan.conditional:
    return analytic_flops.vgan_step(config), "layers"
  if config.model == "edn" and config.edn.stage != 1:
    return traced_flops(trainer.train_step, state, batch), "jaxpr"
  return model_step_flops(trainer, state, batch), "layers"


def _cast_override(dotted: str, value: str, old):
  """The override's text as the old value's type: tuples ('vgan.g_channels=(64,32,16)') as
  Python literals, booleans from true/false (bool('False') would be True)."""
  if isinstance(old, (tuple, list)):
    return tuple(ast.literal_eval(value))
  if isinstance(old, bool):
    if value.lower() not in ("true", "false", "1", "0"):
      raise ValueError(f"override {dotted}={value!r}: expected true or false")
    return value.lower() in ("true", "1")
  return type(old)(value)


def load_config(spec: str, overrides: dict):
  """config[:variant] with dotted overrides ('edn.conv_impl': 'fast'), cast to each key's type."""
  config = config_defaults.load(spec)
  with config.unlocked():
    for dotted, value in overrides.items():
      node = config
      *path, leaf = dotted.split(".")
      for p in path:
        node = node[p]
      old = node[leaf]
      node[leaf] = _cast_override(dotted, value, old)
  return config


def jitted_step(config, batch=None):
  """(trainer, state, batch, jitted donated train_step) on the default mesh; the batch is
  zeros of the config's shapes unless one is given (arrays by key, host or device)."""
  trainer = get_trainer(config)
  mesh = parallel.make_mesh()
  repl, sharded = parallel.replicated(mesh), parallel.batch_sharded(mesh)
  state = jax.jit(trainer.init_state, out_shardings=repl)(jax.random.key(0))
  batch = jax.device_put(fake_batch(config) if batch is None else batch, sharded)
  step = jax.jit(trainer.train_step, in_shardings=(repl, sharded), out_shardings=(repl, repl),
                 donate_argnums=0)
  return trainer, state, batch, step


def measure(spec: str, steps: int, compile_only: bool, overrides: dict) -> dict:
  config = load_config(spec, overrides)
  if config.model == "edn" and config.edn.stage == 2:
    with config.unlocked():
      config.edn.stage = 1  # stage 2 needs a stage-1 run; its step is measured via stage 1
  trainer, state, batch, step = jitted_step(config)
  t0 = time.perf_counter()
  compiled = step.lower(state, batch).compile()
  compile_s = time.perf_counter() - t0
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  mem = compiled.memory_analysis()
  peak = (mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
          - mem.alias_size_in_bytes) if mem is not None else float("nan")
  result = {"config": spec, "batch": config.train.batch_size, "compile_s": compile_s,
            "xla_flops": float(cost.get("flops", float("nan"))),
            "peak_gib": peak / 2 ** 30,
            "dtype": config.dtype, "device": jax.devices()[0].device_kind}
  result["model_flops"], result["flops_counted_from"] = model_flops(config, trainer, state, batch)
  if result["flops_counted_from"] == "layers":  # the jaxpr's count beside it, as a cross-check
    from benchmarks.flops import traced_flops
    result["jaxpr_flops"] = traced_flops(trainer.train_step, state, batch)
  if not compile_only:
    state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
      t0 = time.perf_counter()
      state, metrics = compiled(state, batch)
      jax.block_until_ready((state, metrics))
      times.append(time.perf_counter() - t0)
    result["step_s"] = statistics.median(times)
    result["samples_per_s"] = config.train.batch_size / result["step_s"]
  return result


def main(argv):
  del argv
  from benchmarks.timing import device_peak_tflops
  device = jax.devices()[0]
  overrides = dict(o.split("=", 1) for o in flags.FLAGS.override if o)
  dtype = overrides.get("dtype", "float32")
  peak, source = device_peak_tflops(dtype, flags.FLAGS.peak_tflops)
  print(f"device: {device.platform} {device.device_kind} x{jax.device_count()}, peak {peak:.3f} "
        f"TFLOP/s {dtype} = {source}")
  print(f"{'config':34s} {'batch':>5s} {'dtype':>8s} {'compile_s':>9s} {'step_s':>8s} "
        f"{'samples/s':>9s} {'GFLOP(xla)':>10s} {'GFLOP(model)':>12s} {'MFU':>6s} {'mem GiB':>8s}")
  rows = []
  for spec in flags.FLAGS.configs:
    r = measure(spec, flags.FLAGS.steps, flags.FLAGS.compile_only, overrides)
    step_s = r.get("step_s")
    if step_s:
      r["mfu"] = r["model_flops"] / step_s / 1e12 / peak
    rows.append({**r, "overrides": overrides, "peak_tflops": peak})
    mfu = f"{100 * r['mfu']:5.1f}%" if step_s else "    -"
    model = f"{r['model_flops'] / 1e9:12.1f}"
    print(f"{spec:34s} {r['batch']:5d} {r['dtype']:>8s} {r['compile_s']:9.1f} "
          f"{step_s if step_s else float('nan'):8.3f} "
          f"{(r['batch'] / step_s) if step_s else float('nan'):9.2f} "
          f"{r['xla_flops'] / 1e9:10.1f} {model} {mfu} {r['peak_gib']:8.2f}", flush=True)
  if flags.FLAGS.json:
    with open(flags.FLAGS.json, "w") as f:
      json.dump(rows, f, indent=1)


if __name__ == "__main__":
  flags.DEFINE_list("configs", DEFAULTS, "config[:variant] files")
  flags.DEFINE_integer("steps", 3, "timed steps (median)")
  flags.DEFINE_bool("compile_only", False, "compile and analyse only (paper sizes on a CPU)")
  flags.DEFINE_float("peak_tflops", 0.0, "override the device peak")
  flags.DEFINE_multi_string("override", [], "dotted config override, e.g. train.batch_size=4")
  flags.DEFINE_string("json", "", "also write every row to this JSON file")
  app.run(main)
