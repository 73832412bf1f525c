"""The shared loop end to end on the tiny VGAN configs (Flax-examples style train_test)."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxvid import checkpoint as ckpt_lib
from jaxvid import train
from jaxvid.errors import DivergenceError, UserError
from jaxvid.trainers import get_trainer

from helpers import REPO, load_config, load_final_state, poison_batches, read_metrics


def test_tiny_vgan_trains_and_writes_everything(tmp_path):
  config = load_config()
  last = train.train_and_evaluate(config, str(tmp_path))
  assert np.isfinite(last["d_loss"]) and np.isfinite(last["g_loss"])
  assert {"d_loss", "g_loss", "g_adv_loss", "mask_loss", "d_real", "d_fake"} <= set(last)
  # checkpoints: every 2 steps, the last one included
  steps = sorted(int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit())
  assert steps == [2, 4]
  # metrics.jsonl: one row per step
  assert [m["step"] for m in read_metrics(tmp_path)] == [1, 2, 3, 4]
  # TensorBoard event files open in TensorBoard itself (no TensorFlow installed)
  from tensorboard.backend.event_processing import event_accumulator
  acc = event_accumulator.EventAccumulator(str(tmp_path / "tensorboard"))
  acc.Reload()
  assert [e.step for e in acc.Scalars("train/d_loss")] == [1, 2, 3, 4]
  assert acc.Tags()["images"], "sample filmstrip missing from TensorBoard"
  # sample videos in the paper's layout: background | foreground | mask | generated
  import imageio.v2 as imageio
  gif = imageio.mimread(tmp_path / "samples" / "step_0000004.gif")
  assert len(gif) == config.data.frames
  height, width = gif[0].shape[:2]
  assert width > 3.5 * height / config.train.num_samples  # four columns side by side
  assert os.path.getsize(tmp_path / "samples" / "step_0000004.mp4") > 0
  assert json.load(open(tmp_path / "config.json"))["model"] == "vgan"


def test_resume_continues_to_the_same_parameters(tmp_path):
  straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
  train.train_and_evaluate(load_config(), straight)
  train.train_and_evaluate(load_config(train__num_steps=2), split)  # "crash" after step 2
  train.train_and_evaluate(load_config(), split)  # same command again: resumes at 2
  config = load_config()
  step_a, state_a, data_a = load_final_state(config, straight)
  step_b, state_b, data_b = load_final_state(config, split)
  assert step_a == step_b == 4 and data_a == data_b
  # the saved data position: 4 batches of 4 clips consumed, last record index 15
  (host_state,) = data_a  # one host: data/process_0-of-1.json, grain's checkpoint handler
  assert json.loads(host_state["grain"])["last_seen_indices"] == {"0": 15}
  for a, b in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_b)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  np.testing.assert_allclose([m["g_loss"] for m in read_metrics(straight)],
                             [m["g_loss"] for m in read_metrics(split)], rtol=0, atol=0)


def test_conditional_vgan_trains_through_the_same_loop(tmp_path):
  last = train.train_and_evaluate(load_config("vgan_cond.py"), str(tmp_path))
  assert np.isfinite(last["l1_loss"]) and "mask_loss" not in last
  assert os.path.exists(tmp_path / "samples" / "step_0000004.gif")


def test_checkpoint_of_another_architecture_is_a_clear_error(tmp_path):
  train.train_and_evaluate(load_config(train__num_steps=2), str(tmp_path))
  with pytest.raises(UserError, match="another architecture"):
    train.train_and_evaluate(load_config("vgan_cond.py"), str(tmp_path))
  other = load_config()
  other.model = "vgan"
  trainer = get_trainer(other)
  meta = dict(trainer.metadata(), model="pose_vae")
  checkpointer = ckpt_lib.Checkpointer(str(tmp_path / "checkpoints"), 3, meta)
  with pytest.raises(UserError, match="written by model 'vgan'"):
    checkpointer.check_compatible(2)
  checkpointer.close()


def test_nan_stops_training_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
  poison_batches(monkeypatch, 3)
  with pytest.raises(DivergenceError, match="at step 3"):
    train.train_and_evaluate(load_config(), str(tmp_path))
  steps = sorted(int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit())
  assert steps == [2]


def test_unwritable_workdir_is_a_clear_error(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  with pytest.raises(UserError, match="not writable"):
    train.train_and_evaluate(load_config(), str(blocker / "run"))


def test_unsupported_frame_size_is_a_clear_error(tmp_path):
  with pytest.raises(UserError, match="multiples of 4"):
    train.train_and_evaluate(load_config(data__height=18), str(tmp_path))


def _cli(args, env_extra=None, timeout=300):
  env = dict(os.environ, **(env_extra or {}))
  return subprocess.run([sys.executable, "-m", "jaxvid.main", *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=timeout)


def test_cli_unknown_config_key_fails_with_one_clear_line(tmp_path):
  result = _cli(["--config=configs/vgan.py:tiny", f"--workdir={tmp_path}",
                 "--config.train.no_such_key=3"])
  assert result.returncode != 0
  assert "no_such_key" in result.stderr and "Traceback" not in result.stderr
  assert not os.path.exists(tmp_path / "checkpoints")


@pytest.mark.slow
def test_eight_devices_give_the_same_losses_as_one(tmp_path):
  args = ["--config=configs/vgan.py:tiny", "--config.train.num_steps=3",
          "--config.train.batch_size=8", f"--config.data.data_dir={tmp_path / 'tfds'}"]
  one = _cli(args + [f"--workdir={tmp_path / 'one'}"], {"JAX_NUM_CPU_DEVICES": "1"})
  four = _cli(args + [f"--workdir={tmp_path / 'four'}"], {"JAX_NUM_CPU_DEVICES": "8"})
  assert one.returncode == 0, one.stderr[-2000:]
  assert four.returncode == 0, four.stderr[-2000:]
  m1, m4 = read_metrics(tmp_path / "one"), read_metrics(tmp_path / "four")
  assert len(m1) == len(m4) == 3
  for a, b in zip(m1, m4):
    for key in ("d_loss", "g_loss", "mask_loss", "d_real", "d_fake"):
      np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("branching", [False, True])
def test_pose_vae_trains_through_the_same_loop(tmp_path, branching):
  config = load_config("pose_vae.py", data__branching=branching)
  last = train.train_and_evaluate(config, str(tmp_path))
  assert {"loss", "future_direction_mse", "future_magnitude_mse", "past_direction_mse",
          "past_magnitude_mse", "kl_per_sample"} <= set(last)
  assert all(np.isfinite(v) for v in last.values())
  import imageio.v2 as imageio
  gif = imageio.mimread(tmp_path / "samples" / "step_0000004.gif")
  assert len(gif) == config.pose_vae.future_steps + 1
  # columns: frames | the true future (branching: every move's) | the sampled futures
  columns = 1 + (3 if branching else 1) + config.pose_vae.num_futures
  cell = max(1, 128 // config.data.height) * config.data.width  # the loop draws >= 128 px
  assert columns * cell <= gif[0].shape[1] < (columns + 1) * cell
  steps = sorted(int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit())
  assert steps == [2, 4]


def test_pose_vae_needs_a_dataset_with_keypoints(tmp_path):
  with pytest.raises(UserError, match="keypoints"):
    train.train_and_evaluate(load_config("pose_vae.py", data__name="synthetic_scenes"),
                             str(tmp_path))


def test_init_from_starts_a_fresh_run_from_another_runs_parameters(tmp_path, capsys):
  """config.train.init_from: the new run's first step starts from the source run's newest
  parameters (not the seed's init), with a fresh step count; wrong sources are one-line errors
  before any work."""
  import jax
  source, fresh, tuned = (str(tmp_path / n) for n in ("source", "fresh", "tuned"))
  train.train_and_evaluate(load_config(train__num_steps=3), source)
  first = lambda workdir: read_metrics(workdir)[0]
  train.train_and_evaluate(load_config(train__num_steps=1), fresh)
  train.train_and_evaluate(load_config(train__num_steps=1, train__init_from=source), tuned)
  assert "init_from: d_batch_stats, d_params, g_batch_stats, g_params from" in capsys.readouterr().out
  assert [r["step"] for r in read_metrics(tuned)] == [1]
  assert first(tuned)["d_loss"] != first(fresh)["d_loss"]
  # the copy itself: the tuned run's step-1 update started from the source's step-3 params
  trainer = get_trainer(load_config())
  _, src = ckpt_lib.load_latest(trainer, source)
  init = jax.jit(trainer.init_state)(jax.random.key(0))
  copied, names = ckpt_lib.copy_params(init, src)
  assert names == ["d_batch_stats", "d_params", "g_batch_stats", "g_params"]
  for a, b in zip(jax.tree.leaves(copied.g_params), jax.tree.leaves(src.g_params)):
    np.testing.assert_array_equal(a, b)
  assert int(copied.step) == 0
  with pytest.raises(UserError, match="no config.json: not a jaxvid workdir"):
    train.train_and_evaluate(load_config(train__init_from=str(tmp_path / "nowhere")),
                             str(tmp_path / "x"))
  with pytest.raises(UserError, match="is a 'vgan' run; this config trains 'pose_gan'"):
    train.train_and_evaluate(load_config("pose_gan.py", train__init_from=source),
                             str(tmp_path / "y"))
  with pytest.raises(UserError, match="another architecture"):
    train.train_and_evaluate(load_config("vgan_cond.py", train__init_from=source),
                             str(tmp_path / "z"))


def test_checkpoints_with_the_older_data_item_still_resume_exactly(tmp_path):
  """Checkpoints written before grain's checkpoint handler kept every host's data position in
  one JSON item (data/metadata: {"hosts": [...]}); a run resumes from them as before."""
  import shutil
  straight, old = str(tmp_path / "straight"), str(tmp_path / "old")
  train.train_and_evaluate(load_config(), straight)
  train.train_and_evaluate(load_config(train__num_steps=2), old)
  item = os.path.join(old, "checkpoints", "2", "data")
  with open(os.path.join(item, "process_0-of-1.json")) as f:
    position = json.load(f)
  shutil.rmtree(item)
  os.makedirs(item)
  with open(os.path.join(item, "metadata"), "w") as f:
    json.dump({"hosts": [json.dumps(position)]}, f)
  train.train_and_evaluate(load_config(), old)
  (_, state_a, _), (_, state_b, _) = (load_final_state(load_config(), w) for w in (straight, old))
  for a, b in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_b)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
