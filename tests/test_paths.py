"""Workdir I/O through etils.epath: a gs:// workdir, faked offline with epath's own mock (every
gs:// path is served from a local folder). Orbax's checkpoint arrays go through tensorstore's
own GCS driver, which cannot be faked here: that part is untested without a bucket."""
import json
import os

import numpy as np
import pytest
from etils import epath

from jaxvid import paths, run_logs
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

  writers = run_logs.Writers(workdir, enabled=True)
  for step in (1, 2, 3):
    writers.scalars(step, {"loss": 1.0 / step})
    writers.flush()
  writers.close()
  rows = [json.loads(line) for line in (bucket / "run" / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [1, 2, 3]
  events = os.listdir(bucket / "run" / "tensorboard")
  assert len(events) == 1 and (bucket / "run" / "tensorboard" / events[0]).stat().st_size > 0

  writers = run_logs.Writers(workdir, enabled=True, resumed_step=2)  # a resumed run
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
  written = run_logs.write_samples({}, _Trainer(config), {}, workdir, 7,
                                run_logs.Writers(workdir, False), config)
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


def test_output_files_are_checked_before_any_work(tmp_path):
  """Every CLI's outputs: not a folder, the right suffix (any case), never one of the inputs,
  not an existing file without --overwrite, somewhere writable."""
  video = tmp_path / "dance.mp4"
  video.write_bytes(b"the user's video")
  check = paths.check_output_file
  with pytest.raises(UserError, match="one of this command's inputs"):
    check(str(video), inputs=(str(video),), overwrite=True)  # --overwrite or not
  with pytest.raises(UserError, match=r"exists: choose another name or pass --overwrite"):
    check(str(video))
  assert check(str(video), overwrite=True) == str(video)
  with pytest.raises(UserError, match="is a folder"):
    check(str(tmp_path))
  with pytest.raises(UserError, match="is a folder"):
    check(str(tmp_path / "new") + "/")
  with pytest.raises(UserError, match=r"use a \.mp4 or \.gif path"):
    check(str(tmp_path / "out.avi"), suffixes=(".mp4", ".gif"))
  assert check(str(tmp_path / "OUT.MP4"), suffixes=(".mp4", ".gif")).endswith("OUT.MP4")
  with pytest.raises(UserError, match="is empty"):
    check("")
  with pytest.raises(UserError, match="is a file, so"):
    check(str(video / "x.mp4"))
  assert check(str(tmp_path / "a" / "b" / "c.mp4")).endswith("c.mp4")  # folders made later
  assert paths.partial_name("/x/out.mp4") == "/x/out.partial.mp4"


def test_transfer_never_writes_over_the_video_its_poses_came_from(tmp_path):
  """The .npz's `source` (the video the poses were extracted from) is an input too."""
  from jaxvid import transfer
  video = tmp_path / "dance.mp4"
  video.write_bytes(b"the user's video")
  poses = tmp_path / "poses.npz"
  np.savez(poses, keypoints=np.zeros((2, 18, 3)), source=np.asarray(str(video)))
  inputs = transfer.input_paths(str(poses), "")
  assert set(inputs) == {str(poses), str(video)}
  with pytest.raises(UserError, match="one of this command's inputs"):
    transfer.output_paths(str(video), True, inputs)
  assert video.read_bytes() == b"the user's video"
  (tmp_path / "out_side_by_side.mp4").write_bytes(b"an earlier run")
  with pytest.raises(UserError, match="side-by-side.*exists"):
    transfer.output_paths(str(tmp_path / "out.mp4"), False, inputs)
  out, side, npy = transfer.output_paths(str(tmp_path / "out.mp4"), True, inputs)
  assert (side, npy) == (str(tmp_path / "out_side_by_side.mp4"), str(tmp_path / "out_poses.npy"))
  assert transfer.input_paths("dancer:2", "") == ()


def test_extract_output_names_for_one_video_and_for_folders(tmp_path):
  from jaxvid import extract
  one = str(tmp_path / "clip.mp4")
  assert extract.output_files(one, [one], str(tmp_path / "p"), True) == [str(tmp_path / "p.npz")]
  (tmp_path / "out").mkdir()  # an existing folder, with or without a trailing slash
  for given in (str(tmp_path / "out"), str(tmp_path / "out") + "/", str(tmp_path / "new") + "/"):
    folder = given.rstrip("/")
    assert extract.output_files(one, [one], given, True) == [f"{folder}/clip.mp4.npz"]
  videos = [str(tmp_path / "in" / "a.mp4"), str(tmp_path / "in" / "sub" / "a.mp4")]
  assert extract.output_files(str(tmp_path / "in"), videos, str(tmp_path / "out"), False) == [
      str(tmp_path / "out" / "a.mp4.npz"), str(tmp_path / "out" / "sub" / "a.mp4.npz")]


def test_a_sources_broken_fps_is_unknown_and_a_broken_size_an_error(tmp_path):
  from jaxvid.inference.edn import load_source
  kp = np.zeros((3, 18, 3), np.float32)
  for fps in (np.inf, -25.0, np.nan):
    np.savez(tmp_path / "p.npz", keypoints=kp, size=np.array([360, 640]), fps=np.float32(fps))
    assert load_source(str(tmp_path / "p.npz"), (64, 64)).fps == 0.0  # then --fps or 12
  np.savez(tmp_path / "p.npz", keypoints=kp, size=np.array([-360, 640]), fps=np.float32(25))
  with pytest.raises(UserError, match="is not a \\(height, width\\) of positive pixels"):
    load_source(str(tmp_path / "p.npz"), (64, 64))
