"""Run the notebooks in colab/ top to bottom on a short training run and store them with their
outputs, so a reader on the web sees the pictures and tables without running anything.

  python colab/refresh.py                    # all three (about 15 min on 2 CPU cores)
  python colab/refresh.py vgan.ipynb --steps=vgan.ipynb=1200

Each notebook trains its CPU demo config for the steps below (JAXVID_NOTEBOOK_STEPS) instead
of the full schedule. Outputs larger than MAX_OUTPUT_KB are refused, to keep the repository
light; the tests execute the notebooks again at test size (JAXVID_NOTEBOOK_TINY=1).
"""
from __future__ import annotations

import argparse
import base64
import os
import re
import time

import nbformat
from nbclient import NotebookClient

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = {"vgan.ipynb": 600, "pose_knows.ipynb": 200, "everybody_dance_now.ipynb": 200}
MAX_OUTPUT_KB = 1500  # all the outputs of one notebook together


def output_bytes(nb) -> int:
  total = 0
  for cell in nb.cells:
    for out in cell.get("outputs", []):
      for value in out.get("data", {}).values():
        text = value if isinstance(value, str) else "".join(value)
        try:
          total += len(base64.b64decode(text, validate=True))
        except ValueError:
          total += len(text)
      total += len("".join(out.get("text", "")))
  return total


# Lines of a run's log that a reader of the stored notebook does not need: progress bars of the
# dataset build (redrawn dozens of times), absl's warnings about custom dataset configs.
NOISE = re.compile(r"Generating|Shuffling|\x1b\[|\r|WARNING:absl|Variant folder|Downloading and "
                   r"preparing|Dataset \S+ downloaded|TqdmWarning|autonotebook|IProgress")


def clean_outputs(nb) -> None:
  """Drop the noise lines from every stream output (and the outputs left empty)."""
  for cell in nb.cells:
    kept = []
    for out in cell.get("outputs", []):
      if out.get("output_type") == "stream":
        lines = [line for line in "".join(out["text"]).splitlines(keepends=True)
                 if line.strip() and not NOISE.search(line)]
        if not lines:
          continue
        out["text"] = "".join(lines)
      kept.append(out)
    cell["outputs"] = kept


def refresh(name: str, steps: int) -> None:
  path = os.path.join(HERE, name)
  nb = nbformat.read(path, as_version=4)
  os.environ["JAXVID_NOTEBOOK_STEPS"] = str(steps)
  os.environ.pop("JAXVID_NOTEBOOK_TINY", None)
  start = time.time()
  NotebookClient(nb, timeout=3600, kernel_name="python3",
                 resources={"metadata": {"path": HERE}}).execute()
  clean_outputs(nb)
  size = output_bytes(nb)
  if size > MAX_OUTPUT_KB * 1024:
    raise SystemExit(f"{name}: outputs of {size / 1024:.0f} KB exceed {MAX_OUTPUT_KB} KB")
  nb.metadata.pop("widgets", None)
  nbformat.write(nb, path)
  print(f"{name}: {steps} steps, {time.time() - start:.0f} s, outputs {size / 1024:.0f} KB")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("names", nargs="*", default=sorted(STEPS))
  parser.add_argument("--steps", action="append", default=[],
                      help="NAME=STEPS, to change a notebook's run")
  args = parser.parse_args()
  steps = dict(STEPS, **{k: int(v) for k, v in (s.split("=") for s in args.steps)})
  for name in args.names:
    refresh(name, steps[name])


if __name__ == "__main__":
  main()
