"""Lower layers never import higher ones: each layer is imported alone, in a fresh interpreter,
and the jaxvid modules it pulled in are checked against the layers above it.

  base        errors, paths, pixels, progress, video_io, checkpoint, config_defaults, visualize,
              av_writer, shot_cuts
  poses       keypoints, rendering, normalisation, extraction
  models      Flax modules
  data        TFDS builders, renderers, the grain pipeline
  metrics     FVD, LPIPS, SSIM/PSNR, FID/IS, pose distance
  trainers    one per model
  inference   trained models as objects
  api         jaxvid.load / export
  evaluators  the suites; train: the loop and schedule, its epochs (peers: neither imports
              the other)
  CLIs        main, evaluate, transfer, forecast, generate, extract, convert, dance (and its
              stages)
Also: no import cycle among all jaxvid modules, lazy imports inside functions included.
"""
import os
import subprocess
import sys

import pytest

from helpers import REPO

CLIS = ["jaxvid.main", "jaxvid.evaluate", "jaxvid.transfer", "jaxvid.forecast",
        "jaxvid.generate", "jaxvid.extract", "jaxvid.convert", "jaxvid.dance",
        "jaxvid.dance_stages"]
LOOP = ["jaxvid.train", "jaxvid.schedule"]  # the training loop and its schedule
ABOVE = {
    "jaxvid.errors jaxvid.paths jaxvid.pixels jaxvid.progress jaxvid.video_io "
    "jaxvid.checkpoint jaxvid.config_defaults jaxvid.visualize jaxvid.av_writer "
    "jaxvid.shot_cuts": [
        "jaxvid.poses", "jaxvid.models", "jaxvid.data", "jaxvid.metrics", "jaxvid.trainers",
        "jaxvid.inference", *LOOP, "jaxvid.api", "jaxvid.evaluators", *CLIS],
    "jaxvid.poses": ["jaxvid.models", "jaxvid.data", "jaxvid.metrics", "jaxvid.trainers",
                     "jaxvid.inference", *LOOP, "jaxvid.api", "jaxvid.evaluators",
                     *CLIS],
    "jaxvid.models": ["jaxvid.data", "jaxvid.metrics", "jaxvid.trainers", "jaxvid.inference",
                      *LOOP, "jaxvid.api", "jaxvid.evaluators", *CLIS],
    "jaxvid.data": ["jaxvid.models", "jaxvid.metrics", "jaxvid.trainers", "jaxvid.inference",
                    *LOOP, "jaxvid.api", "jaxvid.evaluators", *CLIS],
    "jaxvid.metrics": ["jaxvid.data", "jaxvid.trainers", "jaxvid.inference", *LOOP,
                       "jaxvid.api", "jaxvid.evaluators", *CLIS],
    "jaxvid.trainers": ["jaxvid.inference", *LOOP, "jaxvid.api", "jaxvid.evaluators",
                        *CLIS],
    "jaxvid.inference": [*LOOP, "jaxvid.api", "jaxvid.evaluators", *CLIS],
    "jaxvid.api": [*LOOP, "jaxvid.evaluators", *CLIS],
    "jaxvid.evaluators": [*LOOP, *CLIS],
    "jaxvid.train jaxvid.schedule": ["jaxvid.evaluators", *CLIS],
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
  if not os.path.exists(path):  # a package: its __init__.py
    path = os.path.join(REPO, *module.split("."), "__init__.py")
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


def test_no_module_imports_itself_back_through_others():
  """The static import graph of every jaxvid module (imports inside functions too) has no
  cycle: the one there was (api -> transfer -> api) is gone."""
  modules = []
  for root, _, files in os.walk(os.path.join(REPO, "jaxvid")):
    for f in files:
      if f.endswith(".py"):
        rel = os.path.relpath(root if f == "__init__.py" else os.path.join(root, f[:-3]), REPO)
        modules.append(rel.replace(os.sep, "."))
  known = set(modules)

  def targets(module):
    out = set()
    for name in _imports_in(module):  # `from a.b import c`: a.b.c if a module, else a.b
      while name and name not in known:
        name = name.rsplit(".", 1)[0] if "." in name else ""
      if name:
        out.add(name)
    # a package's modules import their package's __init__ when imported: not an edge back
    return {n for n in out - {module} if not module.startswith(n + ".")}

  graph = {m: targets(m) for m in modules}
  state = {}

  def visit(m, path):
    state[m] = "open"
    for n in graph[m]:
      if state.get(n) == "open":
        raise AssertionError(" -> ".join(path[path.index(n):] + [n]))
      if n not in state:
        visit(n, path + [n])
    state[m] = "done"

  for m in modules:
    if m not in state:
      visit(m, [m])
