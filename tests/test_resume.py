"""Exact resume for every trainer (issue 44): a run killed (SIGKILL while a checkpoint is being
written), preempted (SIGTERM) or interrupted (Ctrl-C) and rerun ends with every array of its
state bitwise equal to the uninterrupted run's. VGAN's is in test_reliability.py."""
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jaxvid import train
from helpers import DATA_DIR, REPO, load_config, load_final_state

STEPS = 10
_ARGS = [f"--config.train.num_steps={STEPS}", "--config.train.checkpoint_every=1",
         "--config.train.sample_every=1000", "--config.train.log_every=1"]


def _start(config_arg, workdir, *extra):
  return subprocess.Popen(
      [sys.executable, "-m", "jaxvid.main", f"--config={config_arg}", f"--workdir={workdir}",
       f"--config.data.data_dir={DATA_DIR}", *_ARGS, *extra],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _checkpoints(workdir):
  folder = os.path.join(workdir, "checkpoints")
  return sorted(int(d) for d in os.listdir(folder) if d.isdigit()) if os.path.isdir(folder) else []


def _interrupt(config_arg, workdir, how, extra):
  """Start the run and send `how` once it has written a checkpoint of its own (so it is in the
  training loop, with the next save under way); check that it was cut short."""
  wait_for = max(_checkpoints(workdir), default=1) + 1
  proc = _start(config_arg, workdir, *extra)
  end = time.time() + 300
  while wait_for not in _checkpoints(workdir) and proc.poll() is None and time.time() < end:
    time.sleep(0.02)
  assert proc.poll() is None, f"the run ended before it could be interrupted: " \
      f"{proc.communicate()[1][-1500:]}"
  proc.send_signal(how)
  out, err = proc.communicate(timeout=300)
  if how == signal.SIGKILL:
    assert proc.returncode == -signal.SIGKILL
  else:
    assert proc.returncode == 0, err[-1500:]
    assert f"{signal.Signals(how).name} received: saved step" in out + err, (out + err)[-1500:]
  assert max(_checkpoints(workdir)) < STEPS


def _compare(config, straight, resumed):
  step_a, state_a, data_a = load_final_state(config, straight)
  step_b, state_b, data_b = load_final_state(config, resumed)
  assert step_a == step_b == STEPS and data_a == data_b
  leaves_a, leaves_b = jax.tree.leaves(state_a), jax.tree.leaves(state_b)
  assert len(leaves_a) == len(leaves_b) > 0
  for a, b in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# (config file, variant, overrides as helpers.load_config takes them, the interruptions)
CASES = {
    "pose_vae": ("pose_vae.py", "tiny", {}, [signal.SIGKILL]),
    # the EMA of G is state too
    "pose_gan": ("pose_gan.py", "tiny", {"pose_gan__ema_decay": 0.9},
                 [signal.SIGTERM]),
    "edn": ("edn.py", "tiny", {}, [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_killed_preempted_and_interrupted_runs_resume_bitwise(tmp_path, name):
  file, variant, overrides, interruptions = CASES[name]
  config = load_config(file, variant, train__num_steps=STEPS, train__checkpoint_every=1,
                       train__sample_every=1000, **overrides)
  extra = [f"--config.{k.replace('__', '.')}={v}" for k, v in overrides.items()]
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  train.train_and_evaluate(config, straight)
  config_arg = f"configs/{file}:{variant}"
  for how in interruptions:
    _interrupt(config_arg, resumed, how, extra)
  finish = _start(config_arg, resumed, *extra)
  out, err = finish.communicate(timeout=300)
  assert finish.returncode == 0 and "resumed from" in out + err, err[-1500:]
  _compare(config, straight, resumed)


def test_edn_face_stage_resumes_bitwise(tmp_path):
  """Stage 2 (face GAN over a frozen stage 1): its first run starts from stage 1's weights, a
  resumed one from its own checkpoint."""
  stage1 = str(tmp_path / "stage1")
  train.train_and_evaluate(load_config("edn.py", "tiny"), stage1)
  extra = [f"--config.edn.stage1_workdir={stage1}"]
  config = load_config("edn.py", "tiny_face", train__num_steps=STEPS, train__checkpoint_every=1,
                       train__sample_every=1000, edn__stage1_workdir=stage1)
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  train.train_and_evaluate(config, straight)
  for how in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
    _interrupt("configs/edn.py:tiny_face", resumed, how, extra)
  finish = _start("configs/edn.py:tiny_face", resumed, *extra)
  out, err = finish.communicate(timeout=300)
  assert finish.returncode == 0 and "resumed from" in out + err, err[-1500:]
  _compare(config, straight, resumed)
