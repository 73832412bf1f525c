"""Train-step time, FLOPs and MFU for a config, per convolution form.

  python -m benchmarks.step_time --config=configs/vgan.py --impls=fast,literal --steps=5
  python -m benchmarks.step_time --config=configs/vgan.py:paper --config.train.batch_size=4
  python -m benchmarks.step_time --config=configs/pose_gan.py --impls=fast --steps=5

Prints compile time, the median of `--steps` timed steps (after one warm-up), samples/s,
model FLOPs per step (benchmarks/flops.py: the same count for every conv form), achieved FLOP/s, MFU against --peak_tflops (default:
`device_peak_tflops`: on a CPU its cores x clock x ISA FLOP/cycle), and the literal/fast ratio.
"""
from __future__ import annotations

import jax
from absl import app, flags
from ml_collections import config_flags

from benchmarks.timing import device_peak_tflops, time_config

_CONFIG = config_flags.DEFINE_config_file("config", "configs/vgan.py", "config[:variant]")
_IMPLS = flags.DEFINE_list("impls", ["fast", "literal"], "conv forms to time")
_STEPS = flags.DEFINE_integer("steps", 5, "timed steps (median reported)")
_PEAK = flags.DEFINE_float("peak_tflops", 0.0, "override the device peak (TFLOP/s)")


def main(argv):
  del argv
  config = _CONFIG.value
  peak, source = device_peak_tflops(config.dtype, _PEAK.value)
  device = jax.devices()[0]
  print(f"device: {device.platform} {device.device_kind} x{jax.device_count()}  "
        f"peak {peak:.3f} TFLOP/s = {source}  batch {config.train.batch_size}  clip "
        f"{config.data.frames}x{config.data.height}x{config.data.width}  dtype {config.dtype}")
  print(f"{'impl':8s} {'compile_s':>9s} {'step_s':>8s} {'samples/s':>9s} {'GFLOP/step':>10s} "
        f"{'TFLOP/s':>8s} {'MFU':>6s}")
  results = {}
  for impl in _IMPLS.value:
    with config.unlocked():
      config[config.model].conv_impl = impl
    r = results[impl] = time_config(config, _STEPS.value)
    print(f"{impl:8s} {r['compile_s']:9.1f} {r['step_s']:8.3f} {r['samples_per_s']:9.2f} "
          f"{r['flops'] / 1e9:10.1f} {r['tflops_per_s']:8.4f} "
          f"{100 * r['tflops_per_s'] / peak:5.1f}%", flush=True)
  if "fast" in results and "literal" in results:
    print(f"literal / fast step time: {results['literal']['step_s'] / results['fast']['step_s']:.2f}x")


if __name__ == "__main__":
  app.run(main)
