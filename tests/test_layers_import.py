"""Lower layers never import higher ones: each layer is imported alone, in a fresh interpreter,
and the jaxvid modules it pulled in are checked against the layers above it.

  base      errors, paths, video_io, checkpoint, config_defaults, visualize
  poses     keypoints, rendering, normalisation, extraction
  models    Flax modules
  data      TFDS builders, renderers, the grain pipeline
  metrics   FVD, LPIPS, SSIM/PSNR, FID/IS, pose distance
  trainers  one per model
  top       train, evaluate, api, the CLIs
"""
import os
import subprocess
import sys

import pytest

from helpers import REPO

ABOVE = {
    "jaxvid.errors jaxvid.paths jaxvid.video_io jaxvid.checkpoint jaxvid.config_defaults "
    "jaxvid.visualize": ["jaxvid.poses", "jaxvid.models", "jaxvid.data", "jaxvid.metrics",
                         "jaxvid.trainers", "jaxvid.train", "jaxvid.api", "jaxvid.evaluate"],
    "jaxvid.poses": ["jaxvid.models", "jaxvid.data", "jaxvid.metrics", "jaxvid.trainers",
                     "jaxvid.train", "jaxvid.api"],
    "jaxvid.models": ["jaxvid.data", "jaxvid.metrics", "jaxvid.trainers", "jaxvid.train",
                      "jaxvid.api"],
    "jaxvid.data": ["jaxvid.models", "jaxvid.metrics", "jaxvid.trainers", "jaxvid.train",
                    "jaxvid.api"],
    "jaxvid.metrics": ["jaxvid.data", "jaxvid.trainers", "jaxvid.train", "jaxvid.api"],
    "jaxvid.trainers": ["jaxvid.train", "jaxvid.api", "jaxvid.evaluate", "jaxvid.transfer",
                        "jaxvid.forecast", "jaxvid.generate"],
}


def _modules_of(package: str) -> list[str]:
  path = os.path.join(REPO, *package.split("."))
  if not os.path.isdir(path):
    return [package]
  return [f"{package}.{f[:-3]}" for f in sorted(os.listdir(path))
          if f.endswith(".py") and f != "__init__.py"]


@pytest.mark.parametrize("layer", list(ABOVE))
def test_a_layer_imports_nothing_above_it(layer):
  modules = [m for p in layer.split() for m in _modules_of(p)]
  code = ("import importlib, sys\n"
          f"for m in {modules!r}: importlib.import_module(m)\n"
          "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('jaxvid'))))")
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  loaded = result.stdout.split()
  bad = [m for m in loaded if any(m == a or m.startswith(a + ".") for a in ABOVE[layer])]
  assert not bad, f"{layer} pulls in {bad}"


def _imports_in(module: str) -> set[str]:
  """Every jaxvid module named by an import anywhere in `module`'s source (also the lazy ones
  inside functions, which importing the module does not run)."""
  import ast
  path = os.path.join(REPO, *module.split(".")) + ".py"
  names = set()
  for node in ast.walk(ast.parse(open(path).read())):
    if isinstance(node, ast.Import):
      names |= {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
  return {n for n in names if n.startswith("jaxvid")}


@pytest.mark.parametrize("layer", list(ABOVE))
def test_no_import_in_a_layer_names_a_layer_above_it(layer):
  for module in (m for p in layer.split() for m in _modules_of(p)):
    bad = [n for n in _imports_in(module)
           if any(n == a or n.startswith(a + ".") for a in ABOVE[layer])]
    assert not bad, f"{module} imports {bad}"
