"""jaxvid: VGAN, The Pose Knows and Everybody Dance Now in JAX. `jaxvid.load(workdir)` gives a
trained model (jaxvid/api.py)."""


def load(workdir: str, step: int | None = None, expected: str | None = None):
  """The trained model in `workdir` (newest checkpoint, or `step`; `expected`: the model kind it
  must hold); see jaxvid/api.py."""
  from jaxvid.api import load as _load  # lazy: `python -m jaxvid.x` need not import JAX first
  return _load(workdir, step, expected)


def export(workdir: str, out: str, step: int | None = None) -> str:
  """An inference-only copy of a trained model (no optimizer state) that `load` reads."""
  from jaxvid.api import export as _export
  return _export(workdir, out, step)
