"""Progress of long work (feature extraction, dataset builds, generation, transfer, pose
extraction), one style everywhere: tqdm's bar with counts and an ETA on a terminal; off a
terminal (logs, CI), one line per stage when it ends, with its count and time."""
from __future__ import annotations

import contextlib
import sys
import time

from tqdm import tqdm


class _Lines:
  """The off-a-terminal form: counts silently, one line at the end."""

  def __init__(self, total: int | None, desc: str, unit: str, stream):
    self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
    self.n, self.start = 0, time.time()

  def update(self, n: int = 1) -> None:
    self.n += n

  def close(self) -> None:
    print(f"{self.desc}: {self.n} {self.unit}s in {time.time() - self.start:.1f} s",
          file=self.stream, flush=True)


class _Off:
  def update(self, n: int = 1) -> None:
    pass


@contextlib.contextmanager
def bar(total: int | None, desc: str, unit: str = "item", enabled: bool = True, stream=None):
  """A progress reporter with .update(n): a tqdm bar on a terminal, one line at the end
  otherwise, nothing when not `enabled`. Written to `stream` (default stderr, so stdout keeps
  a command's results)."""
  stream = stream or sys.stderr
  if not enabled:
    yield _Off()
    return
  if getattr(stream, "isatty", lambda: False)():
    with tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True) as t:
      yield t
    return
  lines = _Lines(total, desc, unit, stream)
  try:
    yield lines
  finally:
    lines.close()
