"""jaxvid.load / jaxvid.export for every model kind, on tiny trained models."""
import json
import os

import jax
import numpy as np
import pytest

import jaxvid
from jaxvid import train
from jaxvid.errors import UserError
from helpers import load_config

# One worker runs this file: its module-scoped fixture (tiny trainings) is built once.
pytestmark = pytest.mark.xdist_group("test_api")


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  root = tmp_path_factory.mktemp("api")
  out = {}
  for kind in ("vgan", "pose_vae", "pose_gan", "edn"):
    out[kind] = str(root / kind)
    train.train_and_evaluate(load_config(f"{kind}.py"), out[kind])  # checkpoints at 2 and 4
  return out


def _dancer_inputs(config, n_frames):
  from jaxvid.data import pipeline
  batch = pipeline.make_sample_batch(config, 2)
  return batch["video"][:, 0], batch["keypoints"][:, :n_frames]


def _outputs(model):
  """What each kind makes, from fixed inputs and keys."""
  c = model.config
  if c.model == "vgan":
    return model.generate(3, key=jax.random.key(1))
  if c.model == "pose_vae":
    frame, past = _dancer_inputs(c, c.pose_vae.past_steps + 1)
    return model.forecast(frame, past, n=2, key=jax.random.key(1))
  if c.model == "pose_gan":
    frame, poses = _dancer_inputs(c, c.data.frames)
    return model.render(frame, poses, key=jax.random.key(1))
  _, poses = _dancer_inputs(c, c.data.frames)
  return model.transfer(poses[0], source_size=(c.data.height, c.data.width))


@pytest.mark.parametrize("kind", ["vgan", "pose_vae", "pose_gan", "edn"])
def test_load_and_export_give_the_same_model(workdirs, kind, tmp_path):
  steps = sorted(int(s) for s in os.listdir(os.path.join(workdirs[kind], "checkpoints")))
  assert len(steps) >= 2
  model = jaxvid.load(workdirs[kind])
  assert model.step == steps[-1] and type(model).__name__ != "TrainedModel"
  made = _outputs(model)
  c = model.config
  if kind == "pose_vae":
    assert made.shape == (2, 2, c.pose_vae.future_steps + 1, 18, 3)
    assert np.isfinite(made).all()
  else:
    frames = made.shape[-4] if made.ndim == 5 else made.shape[0]
    assert made.dtype == np.uint8 and made.shape[-3:] == (c.data.height, c.data.width, 3)
    assert frames == c.data.frames
  earlier = jaxvid.load(workdirs[kind], step=steps[0])
  assert earlier.step == steps[0]
  exported = jaxvid.export(workdirs[kind], str(tmp_path / "export"))
  files = sorted(os.listdir(exported))
  assert "config.json" in files and "export.json" in files and "checkpoints" not in files
  info = json.load(open(os.path.join(exported, "export.json")))
  assert not any("opt_state" in f or f.startswith("d_") for f in info["fields"])
  again = jaxvid.load(exported)
  assert again.step == steps[-1] and type(again) is type(model)
  np.testing.assert_array_equal(_outputs(again), made)  # same parameters, same outputs
  with pytest.raises(UserError, match="not an empty directory"):
    jaxvid.export(workdirs[kind], exported)  # never over an earlier export
  with pytest.raises(UserError, match=f"export of step {steps[-1]}"):
    jaxvid.load(exported, step=steps[0])


def test_exported_edn_transfers_without_its_dataset(workdirs, tmp_path):
  exported = jaxvid.export(workdirs["edn"], str(tmp_path / "edn"))
  config = json.load(open(os.path.join(exported, "config.json")))
  config["data"]["data_dir"] = str(tmp_path / "no_data_here")  # the dataset is gone
  json.dump(config, open(os.path.join(exported, "config.json"), "w"))
  model = jaxvid.load(exported)
  _, poses = _dancer_inputs(jaxvid.load(workdirs["edn"]).config, 4)
  frames = model.transfer(poses[0], source_size=(64, 64))
  assert frames.shape[0] == 4 and not os.path.exists(tmp_path / "no_data_here")


def test_bad_inputs_are_one_line_errors(workdirs):
  vae = jaxvid.load(workdirs["pose_vae"])
  c = vae.config
  frame, past = _dancer_inputs(c, c.pose_vae.past_steps + 1)
  with pytest.raises(UserError, match="past_poses must be"):
    vae.forecast(frame, past[:, :1])
  with pytest.raises(UserError, match="NaN"):
    vae.forecast(frame, np.full_like(past, np.nan))
  with pytest.raises(UserError, match=r"in \[-1, 1\]"):
    vae.forecast(frame * 255.0, past)
  with pytest.raises(UserError, match="source_size"):
    jaxvid.load(workdirs["edn"]).transfer(np.zeros((4, 18, 3)))
  with pytest.raises(UserError, match="expected 'edn'"):
    jaxvid.load(workdirs["vgan"], expected="edn")
