"""The README and docs/ say what the code does: the test command CI runs, commands of modules
that exist, pictures that are there, a README a newcomer reads in minutes."""
import os
import re

import pytest

from helpers import REPO

PAGES = ["README.md"] + [os.path.join("docs", f) for f in sorted(os.listdir(
    os.path.join(REPO, "docs"))) if f.endswith(".md")]


def _read(page):
  with open(os.path.join(REPO, page)) as f:
    return f.read()


def test_the_readme_is_short_and_its_test_command_is_the_one_ci_runs():
  readme = _read("README.md")
  assert len(readme.splitlines()) <= 200
  with open(os.path.join(REPO, ".ci", "run")) as f:
    ci = [line.strip() for line in f if line.strip() and not line.startswith("#")]
  assert ci[-1] == "python -m pytest -n 2 tests"
  assert ci[-1] in readme


@pytest.mark.parametrize("page", PAGES)
def test_every_command_names_a_module_and_every_picture_exists(page):
  text = _read(page)
  folder = os.path.dirname(os.path.join(REPO, page))
  for module in set(re.findall(r"python -m ((?:jaxvid|benchmarks|experiments)[\w.]*)", text)):
    path = os.path.join(REPO, *module.split("."))
    assert os.path.exists(path + ".py") or os.path.exists(os.path.join(path, "__init__.py")), \
        f"{page}: python -m {module}: no such module"
  for picture in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
    assert os.path.exists(os.path.join(folder, picture)), f"{page}: {picture} is missing"
  for link in re.findall(r"\]\(((?!http)[^)#]+)(?:#[^)]*)?\)", text):
    assert os.path.exists(os.path.join(folder, link)), f"{page}: link to {link} is broken"


def test_every_model_has_its_page():
  for name in ("vgan", "pose_knows", "everybody_dance_now"):
    page = _read(os.path.join("docs", f"{name}.md"))
    assert "## Differences from the paper" in page, name
