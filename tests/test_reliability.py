"""Preemption (SIGTERM), hard kills (SIGKILL, also during async checkpoint writes), skipping
non-finite updates, and a sweep of bad inputs over every CLI."""
import hashlib
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jaxvid import train
from helpers import REPO, load_config, load_final_state, poison_batches, read_metrics


def _start(workdir, data_dir, *extra):
  return subprocess.Popen(
      [sys.executable, "-m", "jaxvid.main", "--config=configs/vgan.py:tiny", f"--workdir={workdir}",
       f"--config.data.data_dir={data_dir}", "--config.train.log_every=1", *extra],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, process, timeout=240):
  end = time.time() + timeout
  while time.time() < end:
    if predicate():
      return True
    if process.poll() is not None:
      return False
    time.sleep(0.05)
  return False


def _checkpoints(workdir):
  path = os.path.join(workdir, "checkpoints")
  return sorted(int(d) for d in os.listdir(path) if d.isdigit()) if os.path.isdir(path) else []


def _lines(workdir):
  path = os.path.join(workdir, "metrics.jsonl")
  return sum(1 for _ in open(path)) if os.path.exists(path) else 0


def test_ctrl_c_twice_while_compiling_exits_130_without_a_crash(tmp_path):
  """Two Ctrl-C as the step compiles (issue 32): once the config.json is written the first
  jit is under way; the process ended in a segmentation fault (rc 139) at the interpreter's
  teardown with XLA's threads running. Now one line and rc 130."""
  workdir, data = str(tmp_path / "run"), str(tmp_path / "tfds")
  proc = _start(workdir, data, "--config.train.num_steps=100000")
  assert _wait_for(lambda: os.path.exists(os.path.join(workdir, "config.json")), proc), \
      proc.communicate()[1][-2000:]
  proc.send_signal(signal.SIGINT)
  time.sleep(0.2)
  proc.send_signal(signal.SIGINT)
  out, err = proc.communicate(timeout=240)
  assert proc.returncode == 130, err[-2000:]
  assert "interrupted" in err and "Segmentation" not in err and "Traceback" not in err


def test_sigterm_saves_and_exits_zero_then_resumes(tmp_path):
  workdir, data = str(tmp_path / "run"), str(tmp_path / "tfds")
  proc = _start(workdir, data, "--config.train.num_steps=400",
                "--config.train.checkpoint_every=1000", "--config.train.sample_every=1000")
  assert _wait_for(lambda: _lines(workdir) >= 3, proc), proc.communicate()[1][-2000:]
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=240)
  assert proc.returncode == 0, err[-2000:]
  assert "SIGTERM received" in out
  (saved,) = _checkpoints(workdir)
  assert 3 <= saved < 400
  resumed = subprocess.run(
      [sys.executable, "-m", "jaxvid.main", "--config=configs/vgan.py:tiny", f"--workdir={workdir}",
       f"--config.data.data_dir={data}", f"--config.train.num_steps={saved + 2}"],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0 and f"at step {saved}" in resumed.stdout


def test_sigkill_at_several_points_resumes_to_identical_parameters(tmp_path):
  data = str(tmp_path / "tfds")
  args = ["--config.train.num_steps=8", "--config.train.checkpoint_every=1",
          "--config.train.sample_every=1000"]
  straight = str(tmp_path / "straight")
  assert _start(straight, data, *args).wait(timeout=300) == 0
  killed = str(tmp_path / "killed")
  for at_least in (1, 4):  # killed right after a save was started, twice
    proc = _start(killed, data, *args)
    assert _wait_for(lambda: _lines(killed) >= at_least + 1, proc)
    proc.kill()
    proc.wait()
  assert _checkpoints(killed)[-1] < 8
  assert _start(killed, data, *args).wait(timeout=300) == 0
  config = load_config(train__num_steps=8)
  step_a, state_a, _ = load_final_state(config, straight)
  step_b, state_b, _ = load_final_state(config, killed)
  assert step_a == step_b == 8
  for a, b in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_b)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_skip_mode_drops_the_nonfinite_update_and_goes_on(tmp_path, monkeypatch):
  poison_batches(monkeypatch, 3, 3)
  config = load_config(train__on_nonfinite="skip")
  train.train_and_evaluate(config, str(tmp_path))
  rows = read_metrics(tmp_path)
  assert [r["skipped_update"] for r in rows] == [0, 0, 1, 0]
  _, state, _ = load_final_state(config, str(tmp_path))
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state))


def _tree_hash(root):
  digest = hashlib.sha1()
  for dirpath, _, files in sorted(os.walk(root)):
    for name in sorted(files):
      path = os.path.join(dirpath, name)
      digest.update(path.encode())
      digest.update(open(path, "rb").read())
  return digest.hexdigest()


def _run(module, *args):
  return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=300)


def test_bad_inputs_give_one_line_errors_and_change_nothing(tmp_path):
  user = tmp_path / "user"
  user.mkdir()
  (user / "corrupt.mp4").write_bytes(b"\x00\x01garbage")
  (user / "empty.mp4").write_bytes(b"")
  (user / "poses.npz").write_bytes(b"not an npz")
  np.save(user / "wrong_shape.npy", np.zeros((5, 17, 3)))
  (user / "dance.mp4").write_bytes(b"the user's own video")
  np.savez(user / "from_dance.npz", keypoints=np.zeros((3, 18, 3)), size=np.array([64, 64]),
           fps=np.float32(25), source=np.asarray(str(user / "dance.mp4")))
  workdir = tmp_path / "vgan_run"
  data = str(tmp_path / "tfds")
  ok = _run("jaxvid.main", "--config=configs/vgan.py:tiny", f"--workdir={workdir}",
            f"--config.data.data_dir={data}", "--config.train.num_steps=2")
  assert ok.returncode == 0, ok.stderr[-2000:]
  blocker = user / "a_file"
  blocker.write_text("x")
  before = _tree_hash(user), _tree_hash(workdir)
  cases = {
      "missing config": ("jaxvid.main", "--config=configs/nope.py", f"--workdir={tmp_path / 'w1'}"),
      "unknown key": ("jaxvid.main", "--config=configs/vgan.py:tiny", f"--workdir={tmp_path / 'w2'}",
                      "--config.train.nope=1"),
      "unwritable workdir": ("jaxvid.main", "--config=configs/vgan.py:tiny",
                             f"--workdir={blocker}/run", f"--config.data.data_dir={data}"),
      "another model's checkpoint": ("jaxvid.main", "--config=configs/vgan_cond.py:tiny",
                                     f"--workdir={workdir}", f"--config.data.data_dir={data}"),
      "transfer: not an edn workdir": ("jaxvid.transfer", f"--workdir={workdir}",
                                       "--source=dancer:1", f"--output={user}/o.mp4"),
      "transfer: missing workdir": ("jaxvid.transfer", f"--workdir={tmp_path}/none",
                                    "--source=dancer:1", f"--output={user}/o.mp4"),
      "forecast: wrong models": ("jaxvid.forecast", f"--vae_workdir={workdir}",
                                 f"--gan_workdir={workdir}", f"--output={user}/o.gif"),
      "evaluate: missing workdir": ("jaxvid.evaluate", f"--workdir={tmp_path}/none"),
      "extract: corrupt video": ("jaxvid.extract", f"--input={user}/corrupt.mp4",
                                 f"--output={user}/o.npz"),
      "extract: empty video": ("jaxvid.extract", f"--input={user}/empty.mp4",
                               f"--output={user}/o.npz"),
      "extract: missing input": ("jaxvid.extract", f"--input={user}/none.mp4",
                                 f"--output={user}/o.npz"),
      "extract: negative max_frames": ("jaxvid.extract", f"--input={user}/dance.mp4",
                                       f"--output={user}/o.npz", "--max_frames=-1"),
      "extract: over an existing file": ("jaxvid.extract", f"--input={user}/dance.mp4",
                                         f"--output={user}/from_dance.npz"),
      "transfer: onto the video its poses came from": (
          "jaxvid.transfer", f"--workdir={workdir}", f"--source={user}/from_dance.npz",
          f"--output={user}/dance.mp4", "--overwrite"),
      "generate: output is a file": ("jaxvid.generate", f"--workdir={workdir}",
                                     f"--output={blocker}"),
      "empty workdir": ("jaxvid.main", "--config=configs/vgan.py:tiny", "--workdir="),
      "forecast: no futures": ("jaxvid.forecast", f"--vae_workdir={workdir}",
                               f"--gan_workdir={workdir}", f"--output={user}/f.gif",
                               "--num_futures=0"),
      "forecast: nothing kept": ("jaxvid.forecast", f"--vae_workdir={workdir}",
                                 f"--gan_workdir={workdir}", f"--output={user}/f.gif",
                                 "--top_fraction=0"),
      "forecast: fewer samples than futures": (
          "jaxvid.forecast", f"--vae_workdir={workdir}", f"--gan_workdir={workdir}",
          f"--output={user}/f.gif", "--num_samples=4"),
  }
  import importlib.util
  if importlib.util.find_spec("gcsfs") is None:
    cases["a bucket without gcsfs"] = ("jaxvid.main", "--config=configs/vgan.py:tiny",
                                       "--workdir=gs://bucket/run")
  for name, (module, *args) in cases.items():
    result = _run(module, *args)
    lines = [l for l in result.stderr.strip().splitlines() if l.startswith("error")]
    if name == "a bucket without gcsfs":
      assert "pip install gcsfs" in result.stderr, result.stderr[-800:]
    assert result.returncode != 0, name
    assert "Traceback" not in result.stderr, f"{name}: {result.stderr[-1500:]}"
    assert lines, f"{name}: no error line in {result.stderr[-800:]}"
  assert (_tree_hash(user), _tree_hash(workdir)) == before


@pytest.mark.parametrize("key,value,says", [
    ("train__checkpoint_every", 0, "train.checkpoint_every=0"),
    ("train__log_every", 0, "train.log_every=0"),
    ("train__batch_size", -4, "train.batch_size=-4"),
    ("train__num_samples", 0, "train.num_samples=0"),
    ("train__video_format", "avi", "gif, mp4"),
    ("train__max_to_keep", -1, "0: keep every checkpoint"),
    ("data__test_fraction", 1.0, "[0, 1)"),
    ("optim__learning_rate", 0.0, "optim.learning_rate"),
    ("optim__learning_rate", float("inf"), "optim.learning_rate=inf: must be a finite"),
    ("optim__decay_steps", 10, "optim.decay_steps=10"),
    ("data__num_test", 0, "data.num_test=0"),
    ("data__stripes", -0.1, "data.stripes=-0.1"),
    ("data__max_sprites", 0, "data.max_sprites=0"),
    ("data__cache_mb", -1, "data.cache_mb=-1"),
    ("data__workers", -2, "data.workers=-2"),
    ("data__num_clips", 100_000_000, "at most 1,000,000 clips"),
])
def test_bad_values_are_one_error_before_any_work(tmp_path, key, value, says):
  from jaxvid.errors import UserError
  config = load_config("vgan.py", **{key: value}, data__data_dir=str(tmp_path / "none"))
  with pytest.raises(UserError, match=says.replace("[", r"\[").replace(")", r"\)")):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "none").exists() and not (tmp_path / "run").exists()


def test_max_to_keep_zero_keeps_every_checkpoint(tmp_path):
  config = load_config("vgan.py", train__max_to_keep=0, train__num_steps=4,
                       train__checkpoint_every=1)
  train.train_and_evaluate(config, str(tmp_path))
  assert _checkpoints(str(tmp_path)) == [1, 2, 3, 4]


def test_one_run_per_workdir_and_a_dead_runs_lock_is_taken_over(tmp_path, capsys):
  import json
  import socket
  from jaxvid.errors import UserError
  lock = tmp_path / ".jaxvid.lock"
  lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                              "since": "earlier"}))  # a live holder: this very process
  config = load_config("vgan.py")
  with pytest.raises(UserError, match=f"in use by another run \\(pid {os.getpid()}"):
    train.train_and_evaluate(config, str(tmp_path))
  gone = subprocess.Popen([sys.executable, "-c", "pass"])
  gone.wait()
  lock.write_text(json.dumps({"host": socket.gethostname(), "pid": gone.pid, "since": "x"}))
  train.train_and_evaluate(config, str(tmp_path))
  assert "taking over the lock" in capsys.readouterr().out
  assert not lock.exists()  # released at the end


def _damage(step_dir, how):
  import glob
  import shutil
  if how == "truncated array":
    files = [f for f in glob.glob(str(step_dir / "state" / "**" / "*"), recursive=True)
             if os.path.isfile(f) and os.path.getsize(f) > 64 and "d/" in f.replace(os.sep, "/")]
    files = files or [f for f in glob.glob(str(step_dir / "state" / "**" / "*"), recursive=True)
                      if os.path.isfile(f) and os.path.getsize(f) > 64]
    for f in files:
      with open(f, "r+b") as fh:
        fh.truncate(16)
  elif how == "deleted state":
    shutil.rmtree(step_dir / "state")
  elif how == "garbage meta":
    for f in glob.glob(str(step_dir / "meta" / "*")):
      with open(f, "w") as fh:
        fh.write("\x00garbage{")
  elif how == "empty step":
    shutil.rmtree(step_dir)
    step_dir.mkdir()


@pytest.mark.parametrize("how", ["truncated array", "deleted state", "garbage meta", "empty step"])
def test_resume_skips_a_damaged_newest_checkpoint(tmp_path, capsys, how):
  config = load_config("vgan.py", train__num_steps=3, train__checkpoint_every=1,
                       train__max_to_keep=0)
  train.train_and_evaluate(config, str(tmp_path))
  _damage(tmp_path / "checkpoints" / "3", how)
  capsys.readouterr()
  config.train.num_steps = 4
  train.train_and_evaluate(config, str(tmp_path))
  out = capsys.readouterr().out
  assert "skipped the damaged checkpoint of step 3" in out and "at step 2" in out, out[-2000:]
  assert (tmp_path / "checkpoints" / "3.damaged").is_dir()  # kept, out of the way
  assert _checkpoints(str(tmp_path)) == [1, 2, 3, 4]  # step 3 written again, then 4


def test_a_changed_option_that_adds_state_is_an_error_not_damage(tmp_path):
  """Resuming with an EMA of G switched on (state the checkpoint does not have): one error that
  names what differs and the changed options; every checkpoint stays as it was."""
  from jaxvid.errors import UserError
  config = load_config("vgan.py", train__num_steps=2, train__checkpoint_every=1)
  train.train_and_evaluate(config, str(tmp_path))
  config = load_config("vgan.py", train__num_steps=3, train__checkpoint_every=1,
                       vgan__ema_decay=0.999)
  with pytest.raises(UserError) as raised:
    train.train_and_evaluate(config, str(tmp_path))
  message = str(raised.value)
  assert "(step 2) holds another training state" in message
  assert "only in this config's state: g_ema_params" in message
  assert "train.num_steps: 2 -> 3; vgan.ema_decay: 0.0 -> 0.999" in message
  assert f"init_from={tmp_path}" in message
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["1", "2"]  # nothing set aside


def test_disk_full_while_writing_samples_is_one_line_and_resumes_cleanly(tmp_path, monkeypatch):
  import errno
  import json
  from jaxvid import visualize
  from jaxvid.errors import UserError
  real_write = visualize.write_video

  def full_disk(path, video, fps=8):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
      f.write(b"GIF89a partial")  # what a full disk leaves behind
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

  monkeypatch.setattr(visualize, "write_video", full_disk)
  config = load_config("vgan.py", train__num_steps=4, train__checkpoint_every=2,
                       train__sample_every=3)  # dies at step 3, logged after checkpoint 2
  with pytest.raises(UserError, match="No space left on device"):
    train.train_and_evaluate(config, str(tmp_path))
  assert not os.listdir(tmp_path / "samples")  # the partial file is gone
  assert _checkpoints(str(tmp_path)) == [2]  # written before the sample, intact
  monkeypatch.setattr(visualize, "write_video", real_write)
  train.train_and_evaluate(config, str(tmp_path))  # rerun: resumes from step 2
  steps = [json.loads(line)["step"] for line in open(tmp_path / "metrics.jsonl")]
  assert steps == [1, 2, 3, 4]  # step 3's row of the dead run is not there twice


def test_write_failures_are_told_apart_from_other_errors():
  import errno
  from jaxvid.errors import write_failure as _write_failure
  orbax_text = ('RESOURCE_EXHAUSTED: Error writing "g_params.fg_out.kernel/0" in OCDBT database '
                '... Failed to write 217050 bytes to file 9: No space left on device')
  assert _write_failure(ValueError(orbax_text)) == "No space left on device"
  assert _write_failure(OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))) == \
      os.strerror(errno.EDQUOT)
  try:
    try:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except OSError as inner:
      raise RuntimeError("save failed") from inner
  except RuntimeError as outer:
    assert _write_failure(outer) == os.strerror(errno.ENOSPC)  # found down the chain
  assert _write_failure(ValueError("shapes do not match")) is None


def test_disk_full_in_the_asynchronous_checkpoint_write_is_one_line_and_resumes(tmp_path):
  """A real full disk (a 160 KiB tmpfs): orbax fails in its background threads."""
  disk = tmp_path / "disk"
  disk.mkdir()
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(disk)],
                           capture_output=True)
  if mounted.returncode:
    pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
  try:
    run = lambda: subprocess.run(
        [sys.executable, "-m", "jaxvid.main", "--config=configs/vgan.py:tiny",
         f"--workdir={disk / 'run'}", "--config.train.num_steps=4",
         "--config.train.checkpoint_every=2"], cwd=REPO, capture_output=True, text=True,
        timeout=300)
    result = run()
    assert result.returncode == 1, result.stderr[-3000:]
    expected = (f"error: cannot write the checkpoint of step 2 in {disk / 'run'}/checkpoints: "
                f"No space left on device; earlier checkpoints are intact, free space and "
                f"rerun to resume")
    # A cold machine builds the dataset first (TFDS's own progress lines come before): the
    # failure is one error line, the last, and no traceback.
    assert [l for l in result.stderr.splitlines() if l.startswith("error:")] == [expected], \
        result.stderr[-3000:]
    assert result.stderr.rstrip().endswith(expected) and "Traceback" not in result.stderr
    assert os.listdir(disk / "run" / "checkpoints") == []  # the cut-short save is removed
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    result = run()  # with room again: trains to the end
    assert result.returncode == 0, result.stderr[-3000:]
    assert _checkpoints(str(disk / "run")) == [2, 4]
  finally:
    subprocess.run(["umount", str(disk)], capture_output=True)


def test_jax_distributed_without_a_cluster_is_one_line(tmp_path):
  run = lambda *a: subprocess.run(
      [sys.executable, "-m", "jaxvid.main", "--config=configs/vgan.py:tiny",
       f"--workdir={tmp_path / 'run'}", "--jax_distributed", *a], cwd=REPO,
      capture_output=True, text=True, timeout=120)
  result = run()
  assert result.returncode == 1 and "error: jax.distributed did not start" in result.stderr
  assert "Traceback" not in result.stderr
  result = run("--jax_coordinator=localhost:1234")  # without the process count and id
  assert result.returncode == 2 and "together" in result.stderr


def test_wandb_logging_is_optional_and_checked_at_start_up(tmp_path, monkeypatch):
  import importlib.machinery
  import types
  from jaxvid.errors import UserError
  config = load_config("vgan.py", train__wandb="my-project")
  monkeypatch.setitem(sys.modules, "wandb", None)  # not installed: find_spec raises/None
  monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
  with pytest.raises(UserError, match="train.wandb='my-project'.*pip install wandb"):
    train.train_and_evaluate(config, str(tmp_path / "a"))
  monkeypatch.undo()
  logged, runs = [], []

  class _Run:
    def log(self, row, step):
      logged.append((step, row))

    def finish(self):
      runs.append("finished")
  fake = types.ModuleType("wandb")
  fake.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
  fake.init = lambda **kwargs: runs.append(kwargs) or _Run()
  monkeypatch.setitem(sys.modules, "wandb", fake)
  train.train_and_evaluate(config, str(tmp_path / "b"))
  assert runs[0]["project"] == "my-project" and runs[0]["resume"] == "allow"
  assert runs[0]["config"]["model"] == "vgan" and runs[-1] == "finished"
  assert [s for s, row in logged if "train/d_loss" in row] == [1, 2, 3, 4]


def test_a_rerun_with_nothing_to_do_keeps_the_runs_config(tmp_path):
  config = load_config("vgan.py", train__num_steps=2)
  train.train_and_evaluate(config, str(tmp_path))
  before = (tmp_path / "config.json").read_text()
  train.train_and_evaluate(load_config("vgan.py", train__num_steps=2, train__log_every=2),
                           str(tmp_path))
  assert (tmp_path / "config.json").read_text() == before


def test_changed_training_data_resumes_with_a_fresh_iterator_when_asked(tmp_path):
  """The data changed under a run (here: fewer clips): the checkpoint's data position does not
  fit; the error names the way on, and with train.fresh_data_iterator the run goes on from its
  step with the new data."""
  from jaxvid.errors import UserError
  train.train_and_evaluate(load_config("vgan.py", train__num_steps=2), str(tmp_path))
  changed = dict(train__num_steps=4, data__num_clips=40)
  with pytest.raises(UserError, match="fresh_data_iterator=True"):
    train.train_and_evaluate(load_config("vgan.py", **changed), str(tmp_path))
  train.train_and_evaluate(load_config("vgan.py", train__fresh_data_iterator=True, **changed),
                           str(tmp_path))
  assert [r["step"] for r in read_metrics(str(tmp_path))] == [1, 2, 3, 4]


def test_second_ctrl_c_calls_the_command_lines_exit_from_the_handler():
  """The command line's second Ctrl-C ends the process in the signal handler itself: a
  KeyboardInterrupt raised there can land in XLA's gc callback, where Python prints a traceback
  and drops it (seen once in a full suite run). A library caller still gets the exception."""
  exits = []
  stop = train._StopRequest(on_second_interrupt=lambda: exits.append("exit"))
  try:
    stop._handle(signal.SIGINT, None)  # the first: finish the step, checkpoint
    assert stop.requested and exits == []
    with pytest.raises(KeyboardInterrupt):  # the test's stand-in exit returns; os._exit would not
      stop._handle(signal.SIGINT, None)
    assert exits == ["exit"]
  finally:
    stop.restore()
  library = train._StopRequest()
  try:
    library._handle(signal.SIGTERM, None)
    with pytest.raises(KeyboardInterrupt):
      library._handle(signal.SIGINT, None)
  finally:
    library.restore()
