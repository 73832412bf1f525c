"""Workdir I/O through etils.epath: a gs:// workdir, faked offline with epath's own mock (every
gs:// path is served from a local folder). Orbax's checkpoint arrays go through tensorstore's
own GCS driver, which cannot be faked here: that part is untested without a bucket."""
import json
import os

import numpy as np
import pytest
from etils import epath

from jaxvid import paths
from jaxvid.errors import UserError


@pytest.fixture
def bucket(tmp_path):
  """gs://bucket/... -> tmp_path/bucket/..., for every epath operation."""
  def local(p):
    p = os.fspath(p)
    return os.path.join(tmp_path, p[len("gs://"):]) if p.startswith("gs://") else p

  def wrap(fn, path, *args, **kwargs):
    args = [local(a) if isinstance(a, (str, os.PathLike)) else a for a in args]
    return fn(local(path), *args, **kwargs)

  names = ("copy", "exists", "glob", "isdir", "listdir", "makedirs", "mkdir", "open", "remove",
           "rename", "replace", "rmtree", "stat", "walk")
  with epath.testing.mock_epath(**{n: wrap for n in names}):
    yield tmp_path / "bucket"


def test_uris_are_kept_and_local_paths_resolved(monkeypatch):
  monkeypatch.setenv("RUNS", "/data/runs")
  assert paths.resolve("gs://b/run/") == "gs://b/run"  # not ./gs:/b/run
  assert paths.resolve("$RUNS/vgan") == "/data/runs/vgan"
  assert paths.resolve("~/x") == os.path.expanduser("~/x")
  assert paths.join("gs://b/run", "checkpoints", "4") == "gs://b/run/checkpoints/4"
  assert paths.is_remote("s3://b/x") and not paths.is_remote("/tmp/x")


def test_config_metrics_tensorboard_samples_and_lock_go_to_the_bucket(bucket):
  from jaxvid import checkpoint as ckpt_lib
  from jaxvid import train, workdir_lock
  from helpers import load_config
  workdir = train._check_workdir("gs://bucket/run/")
  assert workdir == "gs://bucket/run" and (bucket / "run").is_dir()
  config = load_config("vgan.py")
  ckpt_lib.dump_config(paths.join(workdir, "config.json"), config)
  assert ckpt_lib.load_config(workdir).model == "vgan"

  writers = train._Writers(workdir, enabled=True)
  for step in (1, 2, 3):
    writers.scalars(step, {"loss": 1.0 / step})
    writers.flush()
  writers.close()
  rows = [json.loads(line) for line in (bucket / "run" / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [1, 2, 3]
  events = os.listdir(bucket / "run" / "tensorboard")
  assert len(events) == 1 and (bucket / "run" / "tensorboard" / events[0]).stat().st_size > 0

  writers = train._Writers(workdir, enabled=True, resumed_step=2)  # a resumed run
  writers.scalars(3, {"loss": 0.3})
  writers.close()
  rows = [json.loads(line) for line in (bucket / "run" / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [1, 2, 3]  # step 3 of the dead run dropped, logged again

  from jaxvid.trainers.base import Trainer

  class _Trainer(Trainer):
    def figure(self, outputs, batch):
      return [[np.zeros((2, 8, 8, 3), np.float32)]]

    def figure_columns(self):
      return ["video"]
  written = train.write_samples({}, _Trainer(config), {}, workdir, 7,
                                train._Writers(workdir, False), config)
  assert written == ["gs://bucket/run/samples/step_0000007.gif",
                     "gs://bucket/run/samples/step_0000007.mp4"]
  assert (bucket / "run" / "samples" / "step_0000007.mp4").stat().st_size > 0

  with workdir_lock.hold(workdir):
    assert json.loads((bucket / "run" / ".jaxvid.lock").read_text())["pid"] == os.getpid()
    (bucket / "run" / ".jaxvid.lock").write_text(json.dumps(
        {"host": "another-host", "pid": 1, "since": "now"}))
    with pytest.raises(UserError, match="in use by another run"):
      with workdir_lock.hold(workdir):
        pass
    (bucket / "run" / ".jaxvid.lock").write_text(json.dumps(
        {"host": os.uname().nodename, "pid": os.getpid(), "since": "now"}))
  assert not (bucket / "run" / ".jaxvid.lock").exists()  # released
