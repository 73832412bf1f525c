"""Where one train step spends its device time: a jax.profiler trace, summed by kernel.

  python -m benchmarks.profile_step --config=configs/vgan.py:paper --override=dtype=bfloat16 \
      [--steps=5] [--trace_dir=DIR] [--top=15] [--json=PATH]

Runs the config's jitted train step on zero batches (as models.py), traces --steps of them and
prints the kernels (GPU) or XLA ops (CPU) that took the most time, with their share of the total
and the HLO op they belong to. The trace (Perfetto JSON) stays in --trace_dir for a closer look.
"""
from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import tempfile
import time

import jax
from absl import app, flags

from benchmarks.models import jitted_step, load_config


def summarize_trace(path: str, top: int) -> dict:
  """Sum the complete ('X') events by name, per view: 'kernels' (a GPU's stream threads),
  'xla_ops' (the device's 'XLA Ops' thread: HLO ops), or on a CPU 'cpu_ops' (XLA's threads)."""
  with gzip.open(path, "rt") as f:
    events = json.load(f)["traceEvents"]
  process = {e["pid"]: e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "process_name"}
  thread = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
            if e.get("ph") == "M" and e.get("name") == "thread_name"}

  def view(e):
    pname, tname = process.get(e["pid"], ""), thread.get((e["pid"], e.get("tid")), "")
    if "/device:" in pname or "GPU" in pname or "TPU" in pname:
      if tname.startswith("Stream"):
        return "kernels"
      if "XLA Ops" in tname:
        return "xla_ops"
      return None
    if "XLAEigen" in tname or "XLAPjRt" in tname:
      return "cpu_ops"
    return None

  totals = collections.defaultdict(collections.Counter)
  counts = collections.defaultdict(collections.Counter)
  hlo = {}
  for e in events:
    if e.get("ph") != "X" or "dur" not in e:
      continue
    kind = view(e)
    if kind is None:
      continue
    totals[kind][e["name"]] += e["dur"]
    counts[kind][e["name"]] += 1
    args = e.get("args", {})
    hlo.setdefault(e["name"], str(args.get("hlo_op") or args.get("long_name", ""))[:80])
  summary = {}
  for kind, total in totals.items():
    busy = sum(total.values())
    summary[kind] = {"busy_us": busy, "rows": [
        {"name": n, "us": us, "share": us / busy if busy else 0.0, "calls": counts[kind][n],
         "hlo_op": hlo[n]} for n, us in total.most_common(top)]}
  return summary


def main(argv):
  del argv
  f = flags.FLAGS
  config = load_config(f.config, dict(item.split("=", 1) for item in f.override))
  _, state, batch, step = jitted_step(config)
  for _ in range(2):  # compile and warm up outside the trace
    state, metrics = step(state, batch)
  jax.block_until_ready(metrics)
  trace_dir = f.trace_dir or tempfile.mkdtemp(prefix="jaxvid_trace_")
  with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
    start = time.perf_counter()
    for _ in range(f.steps):
      state, metrics = step(state, batch)
    jax.block_until_ready((state, metrics))
    wall = time.perf_counter() - start
  path = sorted(glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True))[-1]
  summary = summarize_trace(path, f.top)
  print(f"{f.config} {' '.join(f.override)}: wall {1e3 * wall / f.steps:.2f} ms per step; "
        f"trace {path}")
  for kind, part in summary.items():  # on a CPU the ops of several threads overlap in time
    print(f" {kind}: {part['busy_us'] / 1e3 / f.steps:.2f} ms busy per step")
    for r in part["rows"]:
      print(f"  {100 * r['share']:5.1f}%  {r['us'] / 1e3 / f.steps:8.3f} ms/step  "
            f"{r['calls'] // f.steps:4d}x  {r['name'][:70]:70s} {r['hlo_op']}")
  if f.json:
    with open(f.json, "w") as out:
      json.dump({"config": f.config, "overrides": f.override, "steps": f.steps, "trace": path,
                 "wall_s_per_step": wall / f.steps, **summary}, out, indent=1)


if __name__ == "__main__":
  flags.DEFINE_string("config", "configs/vgan.py", "config[:variant]")
  flags.DEFINE_multi_string("override", [], "dotted config override, e.g. dtype=bfloat16")
  flags.DEFINE_integer("steps", 5, "traced steps")
  flags.DEFINE_integer("top", 15, "kernels to list")
  flags.DEFINE_string("trace_dir", "", "where the trace goes (default: a temporary folder)")
  flags.DEFINE_string("json", "", "write the summary to this JSON file")
  app.run(main)
