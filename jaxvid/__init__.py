"""jaxvid: VGAN, The Pose Knows and Everybody Dance Now in JAX. `jaxvid.load(workdir)` gives a
trained model (jaxvid/api.py).

Messages of the library (training progress, dataset builds, resumes) go to the `jaxvid` logger;
by default they are printed to stdout as plain lines (`logging.getLogger("jaxvid")
.setLevel(logging.WARNING)` silences them; replacing its handler redirects them).
"""
import logging as _logging
import sys as _sys


class _CurrentStdout(_logging.StreamHandler):
  """A handler writing to whatever sys.stdout is when a message comes (a notebook's or a test's
  capture), as print does."""

  def __init__(self):
    super().__init__()
    self.setFormatter(_logging.Formatter("%(message)s"))

  @property
  def stream(self):
    return _sys.stdout

  @stream.setter
  def stream(self, value):
    pass


_logger = _logging.getLogger("jaxvid")
if not _logger.handlers:
  _logger.addHandler(_CurrentStdout())
  _logger.setLevel(_logging.INFO)
  _logger.propagate = False  # absl's root handler would print each line a second time


def load(workdir: str, step: int | None = None, expected: str | None = None):
  """The trained model in `workdir` (newest checkpoint, or `step`; `expected`: the model kind it
  must hold); see jaxvid/api.py."""
  from jaxvid.api import load as _load  # lazy: `import jaxvid` stays light (no JAX yet)
  return _load(workdir, step, expected)


def export(workdir: str, out: str, step: int | None = None) -> str:
  """An inference-only copy of a trained model (no optimizer state) that `load` reads."""
  from jaxvid.api import export as _export
  return _export(workdir, out, step)
