"""VGAN's discriminator as a video classifier (configs/vgan_classify.py): labels from class
folders and UCF-101's split files, the head replacing D's logit, the trunk from a VGAN
checkpoint, the suite's table, and the bad inputs."""
import json
import os

import jax
import numpy as np
import pytest

import jaxvid
from jaxvid import train
from jaxvid.data import labels, pipeline, synthetic_scenes
from jaxvid.errors import UserError
from jaxvid.evaluators import classify as classify_suite
from jaxvid.evaluators import common
from jaxvid.trainers import get_trainer
from helpers import load_config
from test_data import _shot, _write_video

CLASSES = ("Archery", "Biking", "Diving")


def _ucf_folder(root, per_class=2):
  """UCF-101's layout: one folder per class, v_<Class>_gNN_c01.avi, and split lists."""
  videos = root / "UCF-101"
  for k, name in enumerate(CLASSES):
    (videos / name).mkdir(parents=True)
    for g in range(per_class):
      tint = np.eye(3)[k] * 0.8 + 0.2
      _write_video(videos / name / f"v_{name}_g{g + 1:02d}_c01.avi", _shot(20, tint, 10 * k + g))
  lists = root / "ucfTrainTestlist"
  lists.mkdir()
  (lists / "trainlist01.txt").write_text("".join(
      f"{name}/v_{name}_g01_c01.avi {k + 1}\n" for k, name in enumerate(CLASSES)))
  (lists / "testlist01.txt").write_text("".join(
      f"{name}/v_{name}_g02_c01.avi\n" for name in CLASSES))
  return videos, lists / "trainlist01.txt"


def _folder_config(videos, split_list="", variant="tiny", **overrides):
  options = dict(data__name="video_folder", data__manual_dir=str(videos), data__labels="folder",
                 data__split_list=str(split_list), data__num_test=0, data__frames=8,
                 data__clip_stride=4)
  return load_config("vgan_classify.py", variant, **(options | overrides))


def test_labels_come_from_class_folders_and_the_official_split(tmp_path):
  videos, split = _ucf_folder(tmp_path)
  config = _folder_config(videos, split)
  train_split, test_split = (pipeline.data_source(config, s) for s in ("train", "test"))
  got = lambda source: sorted({(os.path.basename(str(r["source"].decode() if isinstance(
      r["source"], bytes) else r["source"])), int(r["label"])) for r in source})
  assert got(train_split) == [(f"v_{n}_g01_c01.avi", k) for k, n in enumerate(CLASSES)]
  assert got(test_split) == [(f"v_{n}_g02_c01.avi", k) for k, n in enumerate(CLASSES)]
  assert labels.class_names(config.data, 3) == list(CLASSES)


def test_bad_labelled_folders_are_one_line_errors(tmp_path):
  videos, split = _ucf_folder(tmp_path)
  (videos / "Empty").mkdir()
  with pytest.raises(UserError, match="class folder .*Empty has no videos"):
    labels.folder_classes(str(videos), [str(p) for p in videos.rglob("*.avi")])
  (videos / "Empty").rmdir()
  with open(split, "a") as f:
    f.write("Archery/v_Archery_g09_c01.avi 1\n")
  with pytest.raises(UserError, match="names 1 videos not in .*v_Archery_g09_c01.avi"):
    labels.official_split(str(split), str(videos), [str(p) for p in videos.rglob("*.avi")])
  loose = tmp_path / "loose.avi"
  with pytest.raises(UserError, match="must be in a sub-folder"):
    labels.folder_classes(str(tmp_path), [str(loose)])
  with pytest.raises(UserError, match="needs labelled clips"):
    pipeline.require_features(load_config("vgan_classify.py", data__labels="").data,
                              ("video", "label"), "vgan_classify")


def test_the_direction_label_is_the_first_sprites_heading():
  assert [synthetic_scenes.direction_class(a) for a in (0.1, 1.6, 3.1, 4.7)] == [0, 1, 2, 3]
  video, label = synthetic_scenes.render_clip(7, 3, 8, 32, 32, max_sprites=1,
                                              with_direction=True)
  assert video.shape == (8, 32, 32, 3) and label in range(4)
  np.testing.assert_array_equal(video, synthetic_scenes.render_clip(7, 3, 8, 32, 32, 1))


@pytest.fixture(scope="module")
def vgan_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("vgan"))
  train.train_and_evaluate(load_config("vgan.py"), workdir)  # :tiny, D (8, 16) on 8x16x16
  return workdir


def test_the_trunk_starts_from_the_vgan_checkpoints_d_and_the_head_is_new(vgan_run):
  config = load_config("vgan_classify.py", classify__init="vgan", classify__init_from=vgan_run)
  trainer = get_trainer(config)
  state = trainer.warm_start(trainer.init_state(jax.random.key(0)), jaxvid.load)
  source = jaxvid.load(vgan_run)
  assert set(state.params) == set(source.state.d_params) - {"logit"} | {"head"}
  for name in set(source.state.d_params) - {"logit"}:
    for a, b in zip(jax.tree.leaves(state.params[name]),
                    jax.tree.leaves(source.state.d_params[name])):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert state.params["head"]["kernel"].shape[-1] == 4  # dropout + conv to the classes
  wrong = load_config("vgan_classify.py", classify__init="vgan", classify__init_from=vgan_run,
                      classify__d_channels=(8, 32))
  with pytest.raises(UserError, match="its D has channels \\[8, 16\\]"):
    get_trainer(wrong).warm_start(get_trainer(wrong).init_state(jax.random.key(0)), jaxvid.load)
  normed = load_config("vgan_classify.py", classify__init="vgan", classify__init_from=vgan_run,
                       classify__spectral_norm=True)
  with pytest.raises(UserError, match="spectral_norm=False; set config.classify.spectral_norm"):
    get_trainer(normed).warm_start(get_trainer(normed).init_state(jax.random.key(0)),
                                   jaxvid.load)


def test_another_models_checkpoint_is_refused(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps({"model": "edn"}))
  config = load_config("vgan_classify.py", classify__init="vgan",
                       classify__init_from=str(tmp_path))
  trainer = get_trainer(config)
  with pytest.raises(UserError, match="classify.init_from"):
    trainer.warm_start(trainer.init_state(jax.random.key(0)), jaxvid.load)


def test_fine_tune_linear_and_scratch_train_and_the_suite_tabulates_them(vgan_run, tmp_path):
  runs = {}
  for name, options in (("scratch", {}), ("vgan", dict(classify__init="vgan")),
                        ("linear", dict(classify__init="vgan", classify__train="head"))):
    runs[name] = str(tmp_path / name)
    train.train_and_evaluate(load_config("vgan_classify.py", classify__init_from=vgan_run,
                                         **options), runs[name])
  before = jaxvid.load(vgan_run).state.d_params["conv0"]["kernel"]
  linear = jaxvid.load(runs["linear"]).state.params
  np.testing.assert_array_equal(np.asarray(linear["conv0"]["kernel"]), np.asarray(before))
  models = [jaxvid.load(runs[n]) for n in ("scratch", "linear", "vgan")]
  figure = str(tmp_path / "confusion.png")
  report = classify_suite.run(models, common.Options(figure=figure))
  assert list(report["rows"])[0].startswith("from scratch") and len(report["rows"]) == 4
  assert "VGAN, linear" in list(report["rows"])[1]
  assert all(0 <= r["accuracy"] <= 1 for r in report["rows"].values())
  assert sum(map(sum, report["confusion"][list(report["rows"])[0]])) == report["clips"] == 8
  assert os.path.getsize(figure) > 0
  assert "chance (1 / classes)" in classify_suite.format_table(report | {"workdir": "x"})


# cvondrick/videogan main_ucf.lua: batchSize 256, lr 0.0002, beta1 0.5, fineSize 64, frameSize 32,
# max_iter 1000, the D of main.lua (64..512), VolumetricDropout(0.5), a conv to 101 classes.
MAIN_UCF = {"train.batch_size": 256, "optim.learning_rate": 2e-4, "optim.b1": 0.5,
            "data.frames": 32, "data.height": 64, "data.width": 64, "train.num_steps": 1000,
            "classify.d_channels": (64, 128, 256, 512), "classify.dropout": 0.5,
            "classify.num_classes": 101, "classify.init": "vgan", "classify.train": "all",
            "data.labels": "folder", "classify.spectral_norm": False}


def test_paper_is_main_ucf_and_takes_a_finite_step_on_a_ucf_folder(tmp_path):
  from configs import vgan_classify
  config = vgan_classify.get_config("paper")
  for dotted, value in MAIN_UCF.items():
    section, key = dotted.split(".")
    got = config[section][key]
    assert (tuple(got) if isinstance(got, (list, tuple)) else got) == value, dotted
  videos, split = _ucf_folder(tmp_path)
  small = _folder_config(videos, split, variant="paper", data__frames=16, data__height=32,
                         data__width=32, train__batch_size=2, classify__init="random")
  trainer = get_trainer(small)
  state = jax.jit(trainer.init_state)(jax.random.key(0))
  batch = next(pipeline.make_train_iterator(small, 0, 1))
  _, metrics = jax.jit(trainer.train_step)(state, batch)
  assert all(np.isfinite(float(v)) for v in metrics.values())


def test_a_spectrally_normalised_trunk_trains_its_head_alone(tmp_path):
  """The VGAN demo's D has spectral norm: with the trunk frozen the head's own power-iteration
  vector still steps, and the trunk's stays as it was."""
  config = load_config("vgan_classify.py", classify__spectral_norm=True, classify__train="head")
  trainer = get_trainer(config)
  state = trainer.init_state(jax.random.key(0))
  batch = next(pipeline.make_train_iterator(config, 0, 1))
  new, metrics = jax.jit(trainer.train_step)(state, batch)
  assert np.isfinite(float(metrics["loss"]))
  np.testing.assert_array_equal(np.asarray(jax.tree.leaves(new.batch_stats["sn_conv0"])[0]),
                                np.asarray(jax.tree.leaves(state.batch_stats["sn_conv0"])[0]))
  np.testing.assert_array_equal(np.asarray(new.params["conv1"]["kernel"]),
                                np.asarray(state.params["conv1"]["kernel"]))
