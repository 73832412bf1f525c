"""What every suite shares: its options, feature extraction computed once per clip set (and
cached in the workdir), per-clip means with bootstrap intervals, FVD rows."""
from __future__ import annotations

import dataclasses
import hashlib
import os

import numpy as np

from jaxvid import paths, progress
from jaxvid.errors import UserError
from jaxvid.metrics import fvd as fvd_lib
from jaxvid.metrics.intervals import bootstrap_mean_interval, fvd_interval
from jaxvid.metrics.lpips import LPIPS

# Bump when the I3D network, its weights or its preprocessing change: cached features of an
# older extractor are then never read.
I3D_VERSION = "i3d-kinetics400-tf1resize-v1"
CACHE_DIR = "eval_cache"


@dataclasses.dataclass
class Options:
  """Every suite's options (each reads the ones it has; the CLI flags fill them)."""
  num_videos: int = 0  # held-out clips (0: the suite's default, at most what the split has)
  seed: int = 0
  metrics: tuple[str, ...] = ("fvd", "lpips", "ssim", "psnr")  # the 'video' suite
  baselines: bool = False  # the 'video' suite; the model suites always have theirs
  protocol: str = "held_out"  # how clips are sampled: 'held_out' | 'stylegan_v'
  progress: bool = True
  cache: bool = True  # I3D features kept in WORKDIR/eval_cache, keyed by the clips' content
  fvd: bool = True  # suites where FVD is optional (pose_gan, vgan_streams)
  samples: int = 10  # pose_forecast: futures per window
  futures: int = 5  # pose_knows: futures shown per clip (the code's 5 k-means clusters)
  figure: str = ""  # pose_forecast: figure path ('' = WORKDIR/pose_forecast.gif, 'none')
  # edn, pose_gan, pose_knows: build this many held-out synthetic clips (0: the config's)
  num_test: int = 0
  transfer: str = ""  # edn: also transfer this source and measure pose following
  pose_noise: str = ""  # edn: also drive the models with detector-like poses (a noise model's name)
  smooth_windows: tuple[int, ...] = (7,)  # edn with pose_noise: the median windows (frames)


def digest(array: np.ndarray) -> str:
  """A content key of an array (shape, dtype and bytes)."""
  array = np.ascontiguousarray(array)
  h = hashlib.sha256(f"{array.shape}{array.dtype}".encode())
  h.update(memoryview(array).cast("B"))
  return h.hexdigest()[:24]


class Features:
  """I3D features (FVD) of clip sets, each computed once: kept in memory for the call and, with
  cache directories, on disk as `<dir>/i3d_<content key>.npy` — the same clips (the real ones,
  the baselines made from them, a checkpoint's samples with the same seed) are never run
  through I3D twice, whichever row or call asks. Sets made from the dataset alone (`shared`:
  the real clips and the baselines built from them) go to `shared_dir` (beside the dataset),
  where every run trained on that dataset finds them; a model's go to `cache_dir` (its
  workdir)."""

  def __init__(self, cache_dir: str | None = None, show_progress: bool = True,
               shared_dir: str | None = None):
    self.cache_dir = cache_dir
    self.shared_dir = shared_dir or cache_dir
    self.show_progress = show_progress
    self._memory: dict[str, np.ndarray] = {}
    self._i3d = None

  def i3d(self, videos: np.ndarray, what: str = "clips", shared: bool = False) -> np.ndarray:
    videos = np.asarray(videos, np.float32)
    key = f"{I3D_VERSION}-{digest(videos)}"
    if key in self._memory:
      return self._memory[key]
    name = f"i3d_{key}.npy"
    folders = [d for d in (self.shared_dir if shared else self.cache_dir, self.cache_dir,
                           self.shared_dir) if d]
    path = os.path.join(folders[0], name) if folders else None
    for folder in dict.fromkeys(folders):
      try:
        self._memory[key] = np.load(os.path.join(folder, name))
        return self._memory[key]
      except (OSError, ValueError):
        pass  # not there, or a damaged cache file: recompute (and overwrite it)
    if self._i3d is None:
      self._i3d = fvd_lib.I3DFeatures()
    with progress.bar(len(videos), f"I3D features, {what}", "clip", self.show_progress) as bar:
      features = self._i3d(videos, progress=bar.update)
    self._memory[key] = features
    if path:
      tmp = f"{path}.{os.getpid()}.tmp.npy"
      np.save(tmp, features)
      os.replace(tmp, path)  # whole files only: a reader never sees half of one
    return features


def cache_dir_for(folder: str, enabled: bool) -> str | None:
  """FOLDER/eval_cache when it can be written there (a local folder, not read-only)."""
  if not enabled or not folder or paths.is_remote(folder):
    return None
  directory = os.path.join(paths.resolve(folder), CACHE_DIR)
  try:
    os.makedirs(directory, exist_ok=True)
  except OSError:
    return None
  return directory if os.access(directory, os.W_OK) else None


def fvd_row(features: np.ndarray, real_features: np.ndarray, paired: bool, seed: int = 0) -> dict:
  """FVD and its bootstrap 95 % interval (metrics.intervals.fvd_interval)."""
  return {"fvd": fvd_lib.fvd(features, real_features),
          "fvd_95": list(fvd_interval(features, real_features, paired=paired, seed=seed))}


def held_out_config(config, num_test: int):
  """`config`, or with num_test > 0 a copy whose synthetic test split has num_test clips: the
  clips after the training ones, which stay as they are (--num_test of the edn, pose_gan and
  pose_knows suites; pose_knows: of the pose-VAE's data)."""
  if num_test < 0:
    raise UserError(f"--num_test must be >= 0, got {num_test}")
  if not num_test:
    return config
  if not config.data.name.startswith("synthetic"):
    raise UserError(f"--num_test builds more held-out clips of a synthetic dataset; "
                    f"{config.data.name!r} has the clips it has")
  config = config.copy_and_resolve_references()
  config.data.num_test = num_test
  return config


def mean_row(name: str, per_clip, seed: int = 0) -> dict:
  """{name: the mean over clips, name_95: its bootstrap 95 % interval} (NaN clips left out)."""
  values = np.asarray(per_clip, np.float64)
  values = values[np.isfinite(values)]
  if len(values) == 0:
    return {name: float("nan"), f"{name}_95": [float("nan")] * 2}
  mean = float(values.mean())
  interval = list(bootstrap_mean_interval(values, seed=seed)) if len(values) > 1 else [mean] * 2
  return {name: mean, f"{name}_95": interval}


def derangement(rng, n: int) -> np.ndarray:
  """A random order of n frames in which no frame keeps its place."""
  while True:
    order = rng.permutation(n)
    if n < 2 or not (order == np.arange(n)).any():
      return order


def lpips_net(cache: dict, net: str):
  """One LPIPS network per call (its weights load once)."""
  if net not in cache:
    cache[net] = LPIPS(net)
  return cache[net]


def per_frame_lpips(lpips, a: np.ndarray, b: np.ndarray, batch: int = 64) -> np.ndarray:
  """LPIPS of frame pairs (M, H, W, 3) in batches -> (M,)."""
  return np.concatenate([np.asarray(lpips(a[i:i + batch], b[i:i + batch]))
                         for i in range(0, len(a), batch)])


def format_rows(title: str, rows: dict, columns: list[str] | None = None) -> str:
  """A table: one line per row, a column per metric (mean, or [low, high] for intervals)."""
  columns = columns or sorted({k for row in rows.values() for k in row})
  lines = [title, f"{'':40s} " + " ".join(f"{c:>16s}" for c in columns)]
  fmt = lambda x: f"{x:.1f}" if abs(x) >= 100 else f"{x:.3f}"
  cell = lambda v: (f"[{fmt(v[0])}, {fmt(v[1])}]" if isinstance(v, (list, tuple))
                    else (f"{v:.4f}" if isinstance(v, float) else str(v)))
  for name, row in rows.items():
    lines.append(f"{name[:40]:40s} " + " ".join(
        f"{cell(row[c]):>16s}" if c in row else f"{'-':>16s}" for c in columns))
  return "\n".join(lines)
