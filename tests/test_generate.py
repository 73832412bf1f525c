"""jaxvid.load(...).generate / predict and the generate CLI on tiny trained VGANs."""
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxvid
from jaxvid import train
from jaxvid.errors import UserError
from helpers import REPO, load_config

# One worker runs this file: its module-scoped fixture (tiny trainings) is built once.
pytestmark = pytest.mark.xdist_group("test_generate")


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  root = tmp_path_factory.mktemp("gen")
  plain, cond = str(root / "vgan"), str(root / "vgan_cond")
  train.train_and_evaluate(load_config("vgan.py"), plain)
  train.train_and_evaluate(load_config("vgan_cond.py"), cond)
  return plain, cond


def _run(*args):
  return subprocess.run([sys.executable, "-m", "jaxvid.generate", *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def test_load_generates_videos_of_the_models_clip_size(workdirs):
  model = jaxvid.load(workdirs[0])
  d = model.config.data
  videos = model.generate(5, key=jax.random.key(1))
  assert videos.shape == (5, d.frames, d.height, d.width, 3) and videos.dtype == np.uint8
  np.testing.assert_array_equal(videos, model.generate(5, key=jax.random.key(1)))
  assert not np.array_equal(videos, model.generate(5, key=jax.random.key(2)))
  # running statistics: each sample depends on its own z only, whatever the batch size
  one = model.generate(3, key=jax.random.key(1), running_stats=True, batch_size=3)
  other = model.generate(3, key=jax.random.key(1), running_stats=True, batch_size=4)
  np.testing.assert_array_equal(one, other[:3])
  with pytest.raises(UserError, match="conditional"):
    model.predict(videos[:, 0])
  with pytest.raises(UserError, match="step 999"):
    jaxvid.load(workdirs[0], step=999)
  assert jaxvid.load(workdirs[0], step=2).step == 2


def test_conditional_model_predicts_the_future_of_a_frame(workdirs):
  model = jaxvid.load(workdirs[1])
  d = model.config.data
  frames = np.random.default_rng(0).integers(0, 255, (2, d.height, d.width, 3), np.uint8)
  out = model.predict(frames, outputs=True)
  assert out["video"].shape == (2, d.frames, d.height, d.width, 3)
  with pytest.raises(UserError, match="unconditional|conditional"):
    model.generate(2)


def test_cli_writes_mp4s_a_grid_and_an_npz_and_never_overwrites(workdirs, tmp_path):
  from jaxvid import video_io
  out = tmp_path / "samples"
  result = _run(f"--workdir={workdirs[0]}", "--num=3", f"--output={out}")
  assert result.returncode == 0, result.stderr[-3000:]
  with np.load(out / "videos.npz") as f:
    videos = f["videos"]
  assert videos.shape[0] == 3 and videos.dtype == np.uint8
  assert video_io.probe(str(out / "video_0002.mp4")).num_frames == videos.shape[1]
  assert (out / "grid.gif").exists()
  before = (out / "videos.npz").stat().st_mtime_ns
  result = _run(f"--workdir={workdirs[0]}", "--num=3", f"--output={out}")
  assert result.returncode == 1 and "--overwrite" in result.stderr
  assert "Traceback" not in result.stderr and (out / "videos.npz").stat().st_mtime_ns == before


def test_cli_gives_a_conditional_model_its_first_frame_from_an_image(workdirs, tmp_path):
  from PIL import Image
  image = tmp_path / "photo.png"  # another size and aspect: scaled and centre-cropped
  Image.fromarray(np.random.default_rng(1).integers(0, 255, (90, 160, 3), np.uint8)).save(image)
  result = _run(f"--workdir={workdirs[1]}", f"--image={image}", f"--output={tmp_path / 'f'}")
  assert result.returncode == 0, result.stderr[-3000:]
  with np.load(tmp_path / "f" / "videos.npz") as f:
    assert f["videos"].shape[0] == 1
  result = _run(f"--workdir={workdirs[0]}", f"--image={image}", f"--output={tmp_path / 'g'}")
  assert result.returncode == 1 and "conditional" in result.stderr
  assert not os.path.exists(tmp_path / "g")


def test_a_generate_stopped_early_leaves_complete_files_and_says_how_many(workdirs, tmp_path):
  """Ctrl-C after the first batch (a KeyboardInterrupt the test raises from the model's batch
  generator, in a subprocess): the videos made so far are complete under their names, with
  grid.gif and videos.npz of those, no .partial file, and one line saying how many."""
  out = tmp_path / "stopped"
  script = (
      "import sys\n"
      "from absl import app\n"
      "from jaxvid import errors, generate\n"
      "from jaxvid.inference.vgan import VGANModel\n"
      "real = VGANModel.generate_batches\n"
      "def first_then_stop(self, *a, **k):\n"
      "  yield next(iter(real(self, *a, **k)))\n"
      "  raise KeyboardInterrupt\n"
      "VGANModel.generate_batches = first_then_stop\n"
      "generate.define_flags()\n"
      "app.run(errors.run_cli(generate.main))\n")
  result = subprocess.run([sys.executable, "-c", script, f"--workdir={workdirs[0]}",
                           "--num=50", f"--output={out}", "--noprogress"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1, result.stderr[-3000:]
  made = sorted(f for f in os.listdir(out) if f.startswith("video_"))
  assert 0 < len(made) < 50 and made[-1] == f"video_{len(made) - 1:04d}.mp4"
  assert f"error: stopped after {len(made)} of 50 videos" in result.stderr
  assert sorted(set(os.listdir(out)) - set(made)) == ["grid.gif", "videos.npz"]
  with np.load(out / "videos.npz") as f:
    assert f["videos"].shape[0] == len(made)
