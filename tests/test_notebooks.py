"""The Colab notebooks run top to bottom at tiny settings, and are stored without outputs."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from helpers import REPO

NOTEBOOKS = sorted(f for f in os.listdir(os.path.join(REPO, "colab")) if f.endswith(".ipynb"))


def test_there_is_one_notebook_per_model():
  assert NOTEBOOKS == ["everybody_dance_now.ipynb", "pose_knows.ipynb", "vgan.ipynb"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stripped_and_runs(name, tmp_path, monkeypatch):
  monkeypatch.setenv("JAXVID_NOTEBOOK_TINY", "1")  # the kernel inherits it: test-size runs
  path = os.path.join(REPO, "colab", name)
  nb = nbformat.read(path, as_version=4)
  code = [c for c in nb.cells if c.cell_type == "code"]
  assert all(not c.outputs and c.execution_count is None for c in code), "outputs not stripped"
  client = NotebookClient(nb, timeout=900, kernel_name="python3",
                          resources={"metadata": {"path": os.path.join(REPO, "colab")}})
  client.execute()  # raises CellExecutionError on the first failing cell
  images = [o for c in code for o in c.outputs if "image/gif" in o.get("data", {})
            or "image/png" in o.get("data", {})]
  assert images, "the notebook showed no video"
