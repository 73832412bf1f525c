"""Bootstrap intervals for metrics reported over a set of held-out clips."""
from __future__ import annotations

import numpy as np


def bootstrap_mean_interval(values, reps: int = 1000, seed: int = 0) -> tuple[float, float]:
  """95 % percentile-bootstrap interval of the mean of `values` (one number per clip)."""
  rng = np.random.default_rng(seed)
  values = np.asarray(values, np.float64)
  means = values[rng.integers(0, len(values), (reps, len(values)))].mean(axis=1)
  return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))
