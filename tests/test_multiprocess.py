"""Two JAX processes on this machine (jax.distributed with a local coordinator) train a tiny
config together: each reads its own data shard, only process 0 writes logs and samples, the
checkpoint holds both hosts' data positions and both resume from it."""
import json
import os
import socket
import subprocess
import sys

import pytest

from helpers import REPO, read_metrics

# One worker runs both: they start processes of their own; never two such runs at once.
pytestmark = pytest.mark.xdist_group("test_multiprocess")


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


# On a loaded 2-core machine (the suite runs two workers) one process can reach the CPU
# backend's topology exchange minutes after the other: JAX's default 2-minute wait failed once.
SLOW_START = {"JAX_CPU_GET_LOCAL_TOPOLOGY_TIMEOUT_MINUTES": "8",
              "JAX_CPU_GET_GLOBAL_TOPOLOGY_TIMEOUT_MINUTES": "9"}
# ... and process 1, done first, waited out JAX's 300 s shutdown barrier while process 0 (which
# alone writes the samples) was still busy, under a loaded suite.
SLOW_END = ["--jax_shutdown_timeout=900"]


def _run_two(workdir, data_dir, steps):
  port = _free_port()
  env = dict(os.environ, JAX_NUM_CPU_DEVICES="1", JAX_PLATFORMS="cpu", **SLOW_START)
  procs = [subprocess.Popen(
      [sys.executable, "-m", "jaxvid.main", "--config=configs/vgan.py:tiny",
       f"--workdir={workdir}", f"--config.data.data_dir={data_dir}",
       f"--config.train.num_steps={steps}", "--config.train.checkpoint_every=3",
       "--config.train.sample_every=3", "--jax_distributed", f"--jax_coordinator=localhost:{port}",
       "--jax_num_processes=2", f"--jax_process_id={i}", *SLOW_END],
      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for i in range(2)]
  outs = [p.communicate(timeout=1200) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  return outs


def test_two_processes_train_checkpoint_and_resume(tmp_path):
  workdir, data = str(tmp_path / "run"), str(tmp_path / "tfds")
  _run_two(workdir, data, 3)
  rows = read_metrics(workdir)
  assert [r["step"] for r in rows] == [1, 2, 3]  # process 0 only: one line per step
  assert os.path.exists(os.path.join(workdir, "samples", "step_0000003.gif"))
  hosts = []  # grain's checkpoint handler: one file per process
  for i in range(2):
    with open(os.path.join(workdir, "checkpoints", "3", "data", f"process_{i}-of-2.json")) as f:
      hosts.append(json.load(f))
  positions = [json.loads(h["grain"])["last_seen_indices"] for h in hosts]
  assert len(positions) == 2 and positions[0] != positions[1]  # two different shards
  outs = _run_two(workdir, data, 5)
  assert any("at step 3" in out for out, _ in outs)
  assert [r["step"] for r in read_metrics(workdir)] == [1, 2, 3, 4, 5]


def test_sigterm_on_one_host_stops_every_host_at_one_saved_step(tmp_path):
  """Preemption on a multi-host run: the signal reaches process 1 only, yet both processes
  save the same step (the one JAX's preemption service agrees on) and exit cleanly, and a
  rerun resumes from it."""
  import signal
  import time
  workdir, data = str(tmp_path / "run"), str(tmp_path / "tfds")
  port = _free_port()
  env = dict(os.environ, JAX_NUM_CPU_DEVICES="1", JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1",
             **SLOW_START)
  procs = [subprocess.Popen(
      [sys.executable, "-m", "jaxvid.main", "--config=configs/vgan.py:tiny",
       f"--workdir={workdir}", f"--config.data.data_dir={data}",
       "--config.train.num_steps=100000", "--config.train.checkpoint_every=100000",
       "--config.train.sample_every=100000", "--config.train.log_every=1", "--jax_distributed",
       f"--jax_coordinator=localhost:{port}", "--jax_num_processes=2", f"--jax_process_id={i}",
       *SLOW_END],
      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for i in range(2)]
  try:
    lines = []
    for line in procs[0].stdout:  # wait until the hosts are stepping
      lines.append(line)
      if line.startswith("step 3/"):
        break
    procs[1].send_signal(signal.SIGTERM)
    t0 = time.time()
    outs = ["".join(lines) + procs[0].communicate(timeout=300)[0], procs[1].communicate(timeout=60)[0]]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  assert time.time() - t0 < 120
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out[-3000:]
  saved = [int(out.split("saved step ")[1].split(";")[0]) for out in outs
           if "saved step " in out]
  assert len(saved) >= 1 and len(set(saved)) == 1, outs[0][-2000:]
  assert "preemption notice (SIGTERM) on a host" in outs[0]
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == [str(saved[0])]
