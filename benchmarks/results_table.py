"""A markdown table from the JSON rows `pytorch_side_by_side --json` writes, for RESULTS.md.

  python -m benchmarks.results_table benchmarks/results/cpu_zen3_2026-12-04/side_*.json

Every figure in the table comes from the rows as written (nothing is typed by hand): the
machine, versions and date of each run, each side's median step time and the spread of its
interleaved repeats, MFU, the ratio (PyTorch time / jaxvid time, > 1: jaxvid faster) or, where
other processes used the CPU while it was timed, "busy" instead of a ratio.
"""
from __future__ import annotations

import json
import sys


def table(rows: list[dict]) -> str:
  runs = sorted({(r["date"], r["machine"], r["jax_device"], r["jax_version"],
                  r["torch_version"], r["repeats"], r["steps"]) for r in rows})
  lines = [f"- {date}: jax {jax} on {device}, torch {torch} on {machine}; {repeats} interleaved "
           f"repeats x {steps} steps per side" for date, machine, device, jax, torch, repeats,
           steps in runs]
  lines += ["", "| model | config | batch | dtype | jaxvid s [spread] | PyTorch | PyTorch s "
                "[spread] | PyTorch / jaxvid | MFU jaxvid / PyTorch | others' CPU |",
            "|---|---|---|---|---|---|---|---|---|---|"]
  span = lambda s: f"[{s[0]:.4f}, {s[1]:.4f}]"
  for r in rows:
    ratio = "busy: no ratio" if r["busy"] or r["ratio"] is None else f"**{r['ratio']:.2f}×**"
    extra = (f" (first step {r['pytorch_first_step_s']:.0f} s)" if r["pytorch"] == "compile"
             else "")
    lines.append(
        f"| {r['model']} | `{r['config']}` | {r['batch']} | {r['dtype']} | {r['jax_s']:.4f} "
        f"{span(r['jax_spread_s'])} | {r['pytorch']}{extra} | {r['pytorch_s']:.4f} "
        f"{span(r['pytorch_spread_s'])} | {ratio} | {100 * r['jax_mfu']:.1f} % / "
        f"{100 * r['pytorch_mfu']:.1f} % | {100 * r['others_cpu_share']:.0f} % |")
  return "\n".join(lines)


def main(paths: list[str]) -> None:
  rows = []
  for path in paths:
    with open(path) as f:
      rows += json.load(f)
  print(table(rows))


if __name__ == "__main__":
  main(sys.argv[1:])
