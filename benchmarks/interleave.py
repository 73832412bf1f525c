"""Timing two or more implementations fairly on one machine: interleaved repeats, and a check
that nothing else was using the CPU meanwhile.

A ratio of two step times means something only when both were measured on the same machine,
in the same run, under the same load. Timing one side for a while and then the other lets a
neighbour's burst, a clock change or a thermal drift land on one side only, so `interleave`
times `steps` steps of each side in turn, `repeats` times over, and reports each side's median
and the spread of its per-repeat medians. On a busy machine the two sides do not suffer
alike (PyTorch's OpenMP threads collapse under contention, XLA's pool much less: a VGAN ratio of
4.06x beside other work against ~0.6x on a quiet machine), so `others_cpu_share` measures the
CPU time that other processes took while a side was being timed; a row over `BUSY_SHARE` gets
no ratio, only a warning.
"""
from __future__ import annotations

import os
import statistics
import time
from typing import Callable

BUSY_SHARE = 0.10  # other processes' CPU time, as a share of the machine's cores


def _system_busy_seconds() -> float | None:
  """CPU seconds every process has used since boot (/proc/stat: all but idle and iowait);
  None where there is no /proc/stat (not Linux)."""
  try:
    with open("/proc/stat") as f:
      fields = f.readline().split()
  except OSError:
    return None
  ticks = [int(v) for v in fields[1:]]
  idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
  return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
  t = os.times()
  return t.user + t.system + t.children_user + t.children_system


class OthersCpuShare:
  """`with OthersCpuShare() as share: ...`, then `share.value`: the CPU time other processes
  used during the block as a share of all cores' time (0: a quiet machine, 1: every core busy
  with others' work); None where it cannot be read. Accumulates over several blocks."""

  def __init__(self):
    self._others = 0.0
    self._wall = 0.0
    self.readable = _system_busy_seconds() is not None

  def __enter__(self):
    self._start = (_system_busy_seconds(), _own_seconds(), time.perf_counter())
    return self

  def __exit__(self, *exc):
    busy0, own0, wall0 = self._start
    busy1, own1, wall1 = _system_busy_seconds(), _own_seconds(), time.perf_counter()
    if busy0 is not None and busy1 is not None:
      self._others += max(0.0, (busy1 - busy0) - (own1 - own0))
    self._wall += wall1 - wall0
    return False

  @property
  def value(self) -> float | None:
    if not self.readable or self._wall <= 0:
      return None
    return self._others / (self._wall * (os.cpu_count() or 1))


def interleave(sides: dict[str, Callable[[], None]], repeats: int, steps: int,
               sync: Callable[[], None] = lambda: None,
               clock: Callable[[], float] = time.perf_counter) -> dict[str, dict]:
  """Time `steps` calls of each side in turn, `repeats` times (after one untimed call each,
  which is reported: the warm-up, or torch.compile's compilation). Per side: every step's
  time, each repeat's median, the median over all steps, the spread (min and max of the repeat
  medians), the first call's time and the others' CPU share while it was timed."""
  if repeats < 1 or steps < 1:
    raise ValueError(f"repeats and steps must be >= 1, got {repeats}, {steps}")
  out = {}
  for name, fn in sides.items():
    t0 = clock()
    fn()
    sync()
    out[name] = {"first_s": clock() - t0, "times": [], "repeat_medians": [],
                 "_share": OthersCpuShare()}
  for _ in range(repeats):
    for name, fn in sides.items():
      times = []
      with out[name]["_share"]:
        for _ in range(steps):
          t0 = clock()
          fn()
          sync()
          times.append(clock() - t0)
      out[name]["times"] += times
      out[name]["repeat_medians"].append(statistics.median(times))
  for row in out.values():
    row["median_s"] = statistics.median(row["times"])
    row["spread_s"] = (min(row["repeat_medians"]), max(row["repeat_medians"]))
    row["others_cpu_share"] = row.pop("_share").value
  return out


def busy(*shares: float | None, limit: float = BUSY_SHARE) -> bool:
  """Whether any of the sides was timed while other processes used more than `limit` of the
  machine (unknown shares do not count as busy)."""
  return any(s is not None and s > limit for s in shares)
