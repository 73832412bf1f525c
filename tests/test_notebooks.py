"""The Colab notebooks run top to bottom at tiny settings, and are stored with the outputs of
a short run (colab/refresh.py) so that they show results when opened."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from helpers import REPO

NOTEBOOKS = sorted(f for f in os.listdir(os.path.join(REPO, "colab")) if f.endswith(".ipynb"))


def test_there_is_one_notebook_per_model():
  assert NOTEBOOKS == ["everybody_dance_now.ipynb", "pose_knows.ipynb", "vgan.ipynb"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_shows_its_results_and_runs(name, tmp_path, monkeypatch):
  import sys
  sys.path.insert(0, os.path.join(REPO, "colab"))
  from refresh import MAX_OUTPUT_KB, output_bytes
  monkeypatch.setenv("JAXVID_NOTEBOOK_TINY", "1")  # the kernel inherits it: test-size runs
  monkeypatch.delenv("JAXVID_NOTEBOOK_STEPS", raising=False)
  path = os.path.join(REPO, "colab", name)
  nb = nbformat.read(path, as_version=4)
  code = [c for c in nb.cells if c.cell_type == "code"]
  stored = [o for c in code for o in c.outputs if "image/gif" in o.get("data", {})
            or "image/png" in o.get("data", {})]
  assert stored, "stored without its pictures: run python colab/refresh.py"
  assert all(c.execution_count is not None for c in code), "a cell was not run by refresh.py"
  assert output_bytes(nb) <= MAX_OUTPUT_KB * 1024
  for c in code:  # execute afresh, at test size (the stored file is not changed)
    c.outputs = []
  client = NotebookClient(nb, timeout=900, kernel_name="python3",
                          resources={"metadata": {"path": os.path.join(REPO, "colab")}})
  client.execute()  # raises CellExecutionError on the first failing cell
  images = [o for c in code for o in c.outputs if "image/gif" in o.get("data", {})
            or "image/png" in o.get("data", {})]
  assert images, "the notebook showed no video"
