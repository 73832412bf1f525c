"""Nothing of the user's lost (issue 44): readers beside a training, outputs never over inputs
or a workdir's own files, crafted files inert, photos upright, held-out clips that are held
out."""
import os
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jaxvid import api
from jaxvid import checkpoint as ckpt_lib
from jaxvid.errors import UserError
from jaxvid.trainers import get_trainer
from helpers import DATA_DIR, REPO, load_config


def _run(module, *args, timeout=300):
  return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=timeout)


def _one_error_line(result) -> str:
  assert result.returncode != 0, result.stdout[-800:]
  assert "Traceback" not in result.stderr, result.stderr[-2000:]
  lines = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
  assert len(lines) == 1, result.stderr[-2000:]
  return lines[0]


def _steps(workdir):
  folder = os.path.join(workdir, "checkpoints")
  return sorted(int(d) for d in os.listdir(folder) if d.isdigit()) if os.path.isdir(folder) else []


def test_a_reader_beside_a_training_never_kills_it(tmp_path):
  """jaxvid.load opened orbax's manager with cleanup_tmp_directories, which deleted the
  checkpoint the trainer was writing: the training died at its next save."""
  workdir = str(tmp_path / "run")
  trainer_proc = subprocess.Popen(
      [sys.executable, "-m", "jaxvid.main", "--config=configs/vgan.py:tiny", f"--workdir={workdir}",
       f"--config.data.data_dir={DATA_DIR}", "--config.train.num_steps=60",
       "--config.train.checkpoint_every=1", "--config.train.sample_every=1000",
       "--config.train.max_to_keep=2"],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  loads = 0
  end = time.time() + 300
  while trainer_proc.poll() is None and time.time() < end:
    if not _steps(workdir):
      time.sleep(0.05)
      continue
    model = api.load(workdir)  # the newest checkpoint, whichever it is as the trainer goes on
    assert 1 <= model.step <= 60
    loads += 1
  out, err = trainer_proc.communicate(timeout=300)
  assert trainer_proc.returncode == 0, err[-2000:]
  assert loads >= 3
  config = ckpt_lib.load_config(workdir)
  for step in _steps(workdir):  # every checkpoint left restores
    found, _ = ckpt_lib.load_latest(get_trainer(config), workdir, step=step)
    assert found == step
  assert not [d for d in os.listdir(os.path.join(workdir, "checkpoints")) if "tmp" in d]


def _extracted_poses(folder):
  """A video and the .npz jaxvid.extract makes of it, by their natural names."""
  video = folder / "dance.mp4"
  video.write_bytes(b"the user's own video")
  poses = folder / "dance_poses.npz"
  np.savez(poses, keypoints=np.zeros((3, 18, 3), np.float32), size=np.array([64, 64]),
           fps=np.float32(25), source=np.asarray(str(video)))
  return video, poses


@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
def test_forecast_never_writes_over_its_input_poses_or_their_video(tmp_path, extra):
  """forecast wrote OUTPUT_poses.npz unchecked: --input=dance_poses.npz --output=dance.mp4
  replaced the extracted poses (rc 0)."""
  video, poses = _extracted_poses(tmp_path)
  before = poses.read_bytes(), video.read_bytes()
  for output in ("dance.mp4", "dance.gif"):  # the poses' name, and over the source video
    result = _run("jaxvid.forecast", f"--vae_workdir={tmp_path}/none",
                  f"--gan_workdir={tmp_path}/none", f"--input={poses}",
                  f"--output={tmp_path / output}", *extra)
    line = _one_error_line(result)
    assert "one of this command's inputs" in line or ("exists" in line and not extra), line
  assert (poses.read_bytes(), video.read_bytes()) == before
  result = _run("jaxvid.forecast", f"--vae_workdir={tmp_path}/none",
                f"--gan_workdir={tmp_path}/none", f"--output={tmp_path}/f.gif", "--fps=0")
  assert "--fps must be in (0, 1000]" in _one_error_line(result)


def _fake_workdir(folder):
  folder.mkdir()
  (folder / "config.json").write_text('{"model": "vgan"}')
  (folder / "checkpoints").mkdir()
  return folder


@pytest.mark.parametrize("flag,name", [("--output", "config.json"),
                                       ("--output", "checkpoints/report.json"),
                                       ("--figure", "samples.gif")])
def test_evaluate_never_writes_into_the_run_it_measures(tmp_path, flag, name):
  """evaluate --output=WORKDIR/config.json replaced the run's config (rc 0); --figure went
  unchecked."""
  workdir = _fake_workdir(tmp_path / "run")
  before = (workdir / "config.json").read_bytes()
  result = _run("jaxvid.evaluate", f"--workdir={workdir}", f"{flag}={workdir / name}",
                "--overwrite")
  assert "inside the model folder" in _one_error_line(result)
  assert (workdir / "config.json").read_bytes() == before
  assert sorted(os.listdir(workdir)) == ["checkpoints", "config.json"]


def test_evaluate_reports_with_other_options_never_replace_each_other(tmp_path):
  from jaxvid import evaluate
  from jaxvid.evaluators.common import Options
  names = {evaluate.report_name("video", 7, Options(**kw)) for kw in (
      {}, {"num_videos": 32}, {"num_videos": 64}, {"seed": 1}, {"num_test": 256},
      {"metrics": ("fvd",)}, {"smooth_windows": (7, 5)})}
  assert len(names) == 7
  # how it runs is not what it measures: the same report
  assert evaluate.report_name("edn", 7, Options(progress=False, cache=False)) == \
      evaluate.report_name("edn", 7, Options())
  existing = tmp_path / "report.json"
  existing.write_text("{}")
  workdir = _fake_workdir(tmp_path / "run")
  result = _run("jaxvid.evaluate", f"--workdir={workdir}", f"--output={existing}")
  assert "exists: choose another name or pass --overwrite" in _one_error_line(result)
  assert existing.read_text() == "{}"


def test_an_exports_paths_never_decide_where_anything_is_read_or_written(tmp_path):
  """Every export carried its author's absolute data.data_dir: evaluating a downloaded export
  built the held-out dataset, downloads/ and eval_cache/ wherever that said."""
  import json
  from jaxvid import train
  workdir, export = str(tmp_path / "run"), str(tmp_path / "export")
  train.train_and_evaluate(load_config("vgan_cond.py", train__num_steps=2), workdir)
  api.export(workdir, export)
  author = tmp_path / "the_authors_machine"
  config = json.loads(open(os.path.join(export, "config.json")).read())
  config["data"]["data_dir"] = str(author / "tfds")
  config["data"]["manual_dir"] = str(author / "videos")
  with open(os.path.join(export, "config.json"), "w") as f:
    json.dump(config, f)
  model = api.load(export)
  assert model.config.data.data_dir == "" and model.config.data.manual_dir == ""
  mine = tmp_path / "my_tfds"
  result = _run("jaxvid.evaluate", f"--workdir={export}", "--metrics=ssim,psnr",
                "--num_videos=2", f"--data_dir={mine}", "--nocache")
  assert result.returncode == 0, result.stderr[-2000:]
  assert not author.exists() and mine.is_dir()
  assert api.load(workdir).config.data.data_dir == DATA_DIR  # a workdir keeps its own


def test_an_edn_export_loads_without_the_weights_file_its_config_names(tmp_path):
  """Loading an EDN built its VGG from config.edn.vgg19_weights, a path of the machine that
  trained it; training still checks the file at start-up."""
  from jaxvid import train
  config = load_config("edn.py", edn__perceptual_backbone="vgg19",
                       edn__vgg19_weights=str(tmp_path / "nowhere.npz"))
  with pytest.raises(UserError, match="VGG19 weights file"):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run" / "checkpoints").exists()
  trainer = get_trainer(config)  # what jaxvid.load builds: the file is not read
  assert "perceptual_backbone" not in vars(trainer)


def _photo(path, pixels, **save):
  from PIL import Image
  Image.fromarray(pixels).save(path, **save)


def test_photos_are_read_upright_and_16_bit_greys_scaled(tmp_path):
  from PIL import Image
  from jaxvid import video_io
  landscape = np.zeros((20, 40, 3), np.uint8)
  landscape[:, :10] = 255  # a white band on the stored image's left
  exif = Image.Exif()
  exif[0x0112] = 6  # a phone's portrait photo: displayed turned 90 degrees clockwise
  _photo(tmp_path / "portrait.jpg", landscape, exif=exif, quality=95)
  upright = video_io.read_image(str(tmp_path / "portrait.jpg"))
  assert upright.shape == (40, 20, 3)  # standing, as the phone shows it
  assert upright[:10].mean() > 200 and upright[10:].mean() < 50  # the band on top
  ramp = np.linspace(0, 65535, 64 * 16).reshape(16, 64).astype(np.uint16)
  Image.fromarray(ramp).save(tmp_path / "grey16.png")
  grey = video_io.read_image(str(tmp_path / "grey16.png"))
  assert grey.shape == (16, 64, 3) and grey.dtype == np.uint8
  np.testing.assert_allclose(grey[..., 0], ramp / 257.0, atol=1)  # not a white frame
  (tmp_path / "not_an_image.png").write_bytes(b"\x89PNG garbage")
  with pytest.raises(video_io.VideoReadError, match="not a readable image"):
    video_io.read_image(str(tmp_path / "not_an_image.png"))


def test_a_dataset_without_held_out_clips_is_never_scored_as_held_out(tmp_path):
  """A video_folder built with test_fraction=0 made evaluate score the training clips and print
  'N held-out clips'."""
  import imageio.v2 as imageio
  import ml_collections
  from jaxvid.data import pipeline
  videos = tmp_path / "videos"
  videos.mkdir()
  rng = np.random.default_rng(0)
  with imageio.get_writer(str(videos / "a.mp4"), fps=10, codec="libx264",
                          macro_block_size=1) as writer:
    for _ in range(20):
      writer.append_data(rng.integers(0, 255, (16, 16, 3)).astype(np.uint8))
  data = ml_collections.ConfigDict({
      "name": "video_folder", "data_dir": str(tmp_path / "tfds"), "manual_dir": str(videos),
      "frames": 8, "height": 16, "width": 16, "num_clips": 4, "num_test": 1, "seed": 0,
      "clip_stride": 4, "test_fraction": 0.0})
  config = ml_collections.ConfigDict({"data": data})
  assert pipeline.make_sample_batch(config, 2)["video"].shape[0] == 2  # the loop's figure
  with pytest.raises(UserError, match="holds no held-out clips"):
    pipeline.make_sample_batch(config, 2, held_out_only=True)
  with pytest.raises(UserError, match="test_fraction=0.0"):
    pipeline.test_source(config)


def test_the_old_extract_command_says_where_the_new_one_is(tmp_path):
  result = _run("jaxvid.poses.extract", f"--input={tmp_path}/v.mp4",
                f"--output={tmp_path}/p.npz")
  assert result.returncode == 2
  assert "python -m jaxvid.extract" in _one_error_line(result)
  assert not os.listdir(tmp_path)


def test_a_file_size_limit_during_a_checkpoint_is_one_line_and_leaves_nothing(tmp_path):
  """`ulimit -f 64`: 336 lines of orbax's tracebacks and a *.orbax-checkpoint-tmp left."""
  import resource
  from jaxvid import train
  train.train_and_evaluate(load_config(train__num_steps=1), str(tmp_path / "warm"))  # data built
  limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
  result = subprocess.run(
      [sys.executable, "-m", "jaxvid.main", "--config=configs/vgan.py:tiny",
       f"--workdir={tmp_path / 'run'}", f"--config.data.data_dir={DATA_DIR}",
       "--config.train.num_steps=4", "--config.train.checkpoint_every=2"],
      cwd=REPO, capture_output=True, text=True, timeout=300, preexec_fn=limit)
  line = _one_error_line(result)
  assert "cannot write the checkpoint of step 2" in line and "File too large" in line, line
  assert len(result.stderr.splitlines()) < 10, result.stderr[-3000:]
  assert os.listdir(tmp_path / "run" / "checkpoints") == []


def test_a_full_disk_while_the_dataset_is_built_is_one_line(tmp_path):
  """A real full disk (a 100 KiB tmpfs) as data_dir: 56 lines of TFDS's traceback."""
  disk = tmp_path / "disk"
  disk.mkdir()
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(disk)],
                           capture_output=True)
  if mounted.returncode:
    pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
  try:
    result = subprocess.run(
        [sys.executable, "-m", "jaxvid.main", "--config=configs/vgan.py:tiny",
         f"--workdir={tmp_path / 'run'}", f"--config.data.data_dir={disk / 'tfds'}",
         "--config.train.num_steps=2"], cwd=REPO, capture_output=True, text=True, timeout=300)
    line = _one_error_line(result)
    assert "cannot build dataset 'synthetic_scenes'" in line and "No space left" in line, line
    leftovers = [d for _, dirs, _ in os.walk(disk) for d in dirs if d.startswith("incomplete.")]
    assert not leftovers
  finally:
    subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_checkpoint_from_before_stable_source_names_still_resumes():
  """EDN checkpoints recorded their data source as '<...SubjectSource object at 0x...>', which
  no later process matches: every EDN rerun failed with 'the training data changed'."""
  import json
  from jaxvid.data import pipeline

  class Records:  # as TFDS's sources: a repr of what they read
    def __repr__(self):
      return "Records(n=8)"

    def __len__(self):
      return 8

    def __getitem__(self, i):
      return {"video": np.full((2, 4, 4, 3), i, np.uint8)}

  source = pipeline.SubjectSource(Records(), 1, [0, 1] * 4)
  assert repr(source) == repr(pipeline.SubjectSource(Records(), 1, [0, 1] * 4))
  assert "0x" not in repr(source)
  run = pipeline.GrainIterator(source, global_batch=2, seed=0)
  next(run)
  state = json.loads(run.get_state()["grain"])
  expected = next(run)
  state["data_source"] = "<jaxvid.data.pipeline.SubjectSource object at 0x7f7b58fcd410>"
  resumed = pipeline.GrainIterator(pipeline.SubjectSource(Records(), 1, [0, 1] * 4), 2, 0)
  resumed.set_state({"grain": json.dumps(state)})
  np.testing.assert_array_equal(next(resumed)["video"], expected["video"])
  with pytest.raises(UserError, match="written with config.data.workers=2"):
    resumed.set_state({"grain": json.dumps({**state, "worker_count": 2})})


def test_a_lock_naming_a_live_stranger_is_taken_over(tmp_path):
  """A .jaxvid.lock whose pid now belongs to an unrelated process (reused after the run died)
  blocked every later run with 'in use by another run'."""
  import json
  import socket
  from jaxvid import workdir_lock
  lock = tmp_path / workdir_lock.LOCK_NAME
  mine = workdir_lock._started(os.getpid())
  cases = [({"pid": 1}, True),  # an old lock (no start time): pid 1 is no Python
           ({"pid": os.getpid(), "started": "another-boot:1"}, True),  # same pid, other process
           ({"pid": os.getpid(), "started": mine}, False)]  # the holder itself: in use
  for holder, taken in cases:
    lock.write_text(json.dumps({"host": socket.gethostname(), "since": "then", **holder}))
    if taken:
      with workdir_lock.hold(str(tmp_path)):
        assert json.loads(lock.read_text())["started"] == mine
      assert not lock.exists()
    else:
      with pytest.raises(UserError, match="in use by another run"):
        with workdir_lock.hold(str(tmp_path)):
          pass


def test_training_refuses_an_export_and_a_resume_with_another_seed(tmp_path):
  from jaxvid import train
  workdir, export = str(tmp_path / "run"), str(tmp_path / "export")
  train.train_and_evaluate(load_config(train__num_steps=2), workdir)
  api.export(workdir, export)
  with pytest.raises(UserError, match="is an export"):
    train.train_and_evaluate(load_config(train__num_steps=2), export)
  assert sorted(os.listdir(export)) == sorted(["config.json", "export.json", "inference"])
  with pytest.raises(UserError, match="started with seed 0; a resumed run keeps it"):
    train.train_and_evaluate(load_config(train__num_steps=4, seed=3), workdir)
  assert ckpt_lib.load_config(workdir).seed == 0


def test_a_finished_rerun_writes_what_the_run_died_before_and_nothing_else(tmp_path):
  """A run killed after its last checkpoint but before its last samples never got them (the
  rerun had 'nothing to do'); a no-op rerun added an empty TensorBoard file."""
  from jaxvid import train
  workdir = tmp_path / "run"
  train.train_and_evaluate(load_config(train__num_steps=2), str(workdir))
  events = sorted(os.listdir(workdir / "tensorboard"))
  rows = (workdir / "metrics.jsonl").read_text()
  for name in os.listdir(workdir / "samples"):
    if name.startswith("step_0000002"):
      os.remove(workdir / "samples" / name)
  train.train_and_evaluate(load_config(train__num_steps=2), str(workdir))
  assert {"step_0000002.gif", "step_0000002.mp4"} <= set(os.listdir(workdir / "samples"))
  assert sorted(os.listdir(workdir / "tensorboard")) == events
  assert (workdir / "metrics.jsonl").read_text() == rows


def test_absurd_counts_and_values_are_one_line_before_any_work(tmp_path):
  """transfer --frames=2000000 and generate --num=30000000 hung (111 s of silence); --fps=0 was
  a ZeroDivisionError; --alpha=nan was taken."""
  import time as time_module
  none = f"--workdir={tmp_path}/none"
  cases = [("jaxvid.transfer", none, "--source=dancer:1", f"--output={tmp_path}/o.mp4",
            "--frames=2000000"),
           ("jaxvid.transfer", none, "--source=dancer:1", f"--output={tmp_path}/o.mp4",
            "--alpha=nan"),
           ("jaxvid.generate", none, f"--output={tmp_path}/g", "--num=30000000"),
           ("jaxvid.generate", none, f"--output={tmp_path}/g", "--fps=0")]
  for module, *args in cases:
    began = time_module.time()
    result = _run(module, *args)
    assert "does not exist" not in _one_error_line(result) and "no config.json" not in \
        result.stderr, (args, result.stderr[-500:])  # refused before the model is looked for
    assert time_module.time() - began < 60
  assert not [p for p in tmp_path.iterdir()]


def test_videos_in_a_linked_folder_are_found(tmp_path):
  from jaxvid import video_io
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  (elsewhere / "a.mp4").write_bytes(b"")
  folder = tmp_path / "videos"
  folder.mkdir()
  (folder / "b.mp4").write_bytes(b"")
  os.symlink(elsewhere, folder / "linked")
  os.symlink(folder, folder / "linked" / "loop")  # a loop ends
  found = video_io.list_videos(str(folder))
  assert [os.path.relpath(p, folder) for p in found] == ["b.mp4", "linked/a.mp4"]
