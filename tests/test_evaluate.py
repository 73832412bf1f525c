"""python -m jaxvid.evaluate and its suites (jaxvid/evaluators) on tiny trained models."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import jaxvid
from jaxvid import api, evaluators, train
from jaxvid.errors import UserError
from jaxvid.evaluators import common, video
from jaxvid.metrics import fvd as fvd_lib
from helpers import DATA_DIR, REPO, load_config

# One worker runs this file: its module-scoped fixture (tiny trainings) is built once.
pytestmark = pytest.mark.xdist_group("test_evaluate")


@pytest.fixture(scope="module")
def gan_workdir(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("eval") / "gan")
  train.train_and_evaluate(load_config("pose_gan.py", data__frames=16), workdir)
  return workdir


def _run(suite, workdir, **options):
  return evaluators.run(evaluators.get(suite), [jaxvid.load(workdir)],
                        common.Options(progress=False, **options), api.load)


def _cli(*args):
  return subprocess.run([sys.executable, "-m", "jaxvid.evaluate", "--noprogress", *args],
                        cwd=REPO, capture_output=True, text=True, timeout=600)


def test_report_has_the_model_and_the_baselines(gan_workdir):
  report = _run("video", gan_workdir, metrics=("fvd", "ssim", "psnr", "lpips"), num_videos=2,
                baselines=True)
  rows = report["rows"]
  assert len(rows) == 6 and report["paired"] and report["videos"] == 2
  model = rows[next(iter(rows))]
  assert set(model) == {"fvd", "fvd_95", "ssim", "ssim_95", "psnr", "psnr_95", "lpips",
                        "lpips_95"}  # every metric with its interval over clips
  assert model["ssim_95"][0] <= model["ssim"] <= model["ssim_95"][1]
  assert all(np.isfinite(v).all() for row in rows.values() for v in row.values())
  low, high = model["fvd_95"]
  assert 0 <= low <= high
  shuffled = rows["real vs temporally shuffled real"]
  assert shuffled["ssim"] < 1.0 and shuffled["lpips"] > 0
  assert "untrained model" in rows
  # the paper's static baseline: the real first frame repeated, exact on frame 0 only
  still = rows["real first frame repeated"]
  assert 0 < still["ssim"] < 1.0 and still["lpips"] > 0
  # the model driven by the other clip's poses gives other videos than by the clip's own
  assert rows["another clip's poses"]["psnr"] != pytest.approx(model["psnr"], abs=1e-6)
  assert "step 4" in video.format_table(report)


def test_features_are_computed_once_per_clip_set_and_cached_in_the_workdir(gan_workdir,
                                                                          monkeypatch):
  import shutil
  data_cache = os.path.join(DATA_DIR, common.CACHE_DIR)  # the dataset's own sets, shared by runs
  for cache in (os.path.join(gan_workdir, common.CACHE_DIR), data_cache):
    shutil.rmtree(cache, ignore_errors=True)
  calls = []
  real_call = fvd_lib.I3DFeatures.__call__
  monkeypatch.setattr(fvd_lib.I3DFeatures, "__call__",
                      lambda self, v, progress=None: calls.append(len(v)) or real_call(self, v))
  first = _run("video", gan_workdir, metrics=("fvd",), num_videos=2, baselines=True)
  # real, model, train clips, shuffled, first frame, another clip's poses, untrained: 7 sets,
  # the real clips once although every row compares with them
  assert len(calls) == 7
  model_sets = os.listdir(os.path.join(gan_workdir, common.CACHE_DIR))
  data_sets = os.listdir(data_cache)  # real, train clips, shuffled, first frame repeated
  assert len(model_sets) == 3 and len(data_sets) == 4
  assert all(f.startswith("i3d_") and f.endswith(".npy") for f in model_sets + data_sets)
  calls.clear()
  again = _run("video", gan_workdir, metrics=("fvd",), num_videos=2, baselines=True)
  assert calls == [] and again["rows"] == first["rows"]  # every set from the cache
  _run("video", gan_workdir, metrics=("fvd",), num_videos=2, cache=False)
  assert calls == [2, 2]  # without the cache: real and model computed again


def test_asking_for_more_clips_than_the_test_split_has_is_refused(gan_workdir):
  from jaxvid import checkpoint as ckpt_lib
  from jaxvid.data import pipeline
  held_out = len(pipeline.held_out_source(ckpt_lib.load_config(gan_workdir)))
  with pytest.raises(UserError, match=f"held-out split has {held_out} clips"):
    _run("video", gan_workdir, metrics=("ssim",), num_videos=held_out + 1)


def test_cli_writes_json_per_step_and_rejects_bad_requests(gan_workdir, tmp_path):
  out = tmp_path / "new" / "report.json"  # a folder that does not exist yet
  result = _cli(f"--workdir={gan_workdir}", "--suite=video", "--metrics=ssim,psnr",
                "--num_videos=2", f"--output={out}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert set(json.loads(out.read_text())["rows"]["pose_gan (step 4)"]) == {
      "ssim", "ssim_95", "psnr", "psnr_95"}
  # the default report is named by suite, step, metrics and every option that changes the
  # numbers (here the clip count): an earlier step's is kept
  for step in (2, 4):
    result = _cli(f"--workdir={gan_workdir}", "--suite=video", f"--step={step}",
                  "--metrics=ssim", "--num_videos=2")
    assert result.returncode == 0, result.stderr[-2000:]
  reports = sorted(os.listdir(os.path.join(gan_workdir, "eval")))
  assert reports == ["video-step2-ssim-n2.json", "video-step4-ssim-n2.json"]
  assert json.load(open(os.path.join(gan_workdir, "eval", reports[0])))["step"] == 2
  result = _cli(f"--workdir={gan_workdir}", "--suite=video", "--metrics=ssim,inception")
  assert result.returncode == 1 and "unknown metrics" in result.stderr
  result = _cli(f"--workdir={gan_workdir}", "--suite=nope")
  assert result.returncode == 1 and "unknown suite 'nope'" in result.stderr
  result = _cli(f"--workdir={gan_workdir}", "--suite=edn")
  assert result.returncode == 1 and "measures edn models" in result.stderr
  result = _cli(f"--workdir={gan_workdir}", f"--output={tmp_path}")
  assert result.returncode == 1 and "is a folder" in result.stderr
  listing = _cli("--suite")  # a bare --suite lists them
  assert listing.returncode == 0 and all(name in listing.stdout for name in evaluators.SUITES)


def test_a_suite_reads_an_export_as_it_reads_the_workdir(gan_workdir, tmp_path):
  exported = jaxvid.export(gan_workdir, str(tmp_path / "export"))
  options = dict(metrics=("ssim", "psnr"), num_videos=2)
  assert _run("video", exported, **options)["rows"] == _run("video", gan_workdir,
                                                            **options)["rows"]
  result = _cli(f"--workdir={exported}", "--nofvd", "--num_videos=2")  # the model's own suite
  assert result.returncode == 0, result.stderr[-2000:]
  assert "suite pose_gan" in result.stderr and "first frame repeated" in result.stdout


def test_a_pose_model_is_sent_to_its_own_suite(tmp_path):
  workdir = str(tmp_path / "vae")
  train.train_and_evaluate(load_config("pose_vae.py"), workdir)
  with pytest.raises(UserError, match="suite video measures vgan, pose_gan, edn"):
    _run("video", workdir)
  with pytest.raises(UserError, match="pose_forecast"):
    jaxvid.load(workdir).videos_for({"video": np.zeros((1,))}, None)


def test_unconditional_paired_metrics_are_refused_before_any_work(tmp_path):
  workdir = str(tmp_path / "vgan")
  train.train_and_evaluate(load_config("vgan.py"), workdir)
  with pytest.raises(UserError, match="unconditional"):
    _run("video", workdir, metrics=("ssim", "psnr"))
  with pytest.raises(UserError, match="--metrics is empty"):
    _run("video", workdir, metrics=())


def test_stylegan_v_protocol_is_fvd_of_its_own_clip_count_and_refuses_what_it_cannot(
    tmp_path, monkeypatch):
  workdir = str(tmp_path / "vgan16")
  train.train_and_evaluate(load_config("vgan.py", data__frames=16), workdir)
  fvd_only = dict(metrics=("fvd",), protocol="stylegan_v")
  with pytest.raises(UserError, match="needs 2048 real clips"):
    _run("video", workdir, **fvd_only)  # the tiny dataset has far fewer
  monkeypatch.setattr(video, "STYLEGAN_V_VIDEOS", 8)  # the same path on a tiny budget
  report = _run("video", workdir, **fvd_only)
  row = next(iter(report["rows"].values()))
  assert report["protocol"] == "stylegan_v" and report["videos"] == 8 and not report["paired"]
  assert set(row) == {"fvd", "fvd_95"} and row["fvd"] > 0
  assert "StyleGAN-V protocol" in video.format_table(report)
  with pytest.raises(UserError, match="takes clips of 16 frames"):
    _run("video", _trained(tmp_path, "vgan.py"), **fvd_only)  # 8-frame clips
  with pytest.raises(UserError, match="unconditional"):
    _run("video", _trained(tmp_path, "vgan_cond.py"), **fvd_only)


def _trained(tmp_path, name):
  workdir = str(tmp_path / name)
  train.train_and_evaluate(load_config(name), workdir)
  return workdir


def test_the_conditional_vgan_is_judged_against_its_own_input_on_the_frames_it_predicts(
    tmp_path):
  workdir = _trained(tmp_path, "vgan_cond.py")
  report = _run("video", workdir, metrics=("ssim", "psnr"), num_videos=2, baselines=True)
  rows = report["rows"]
  assert "input frame repeated" in rows and "real first frame repeated" not in rows
  assert report["paired_frames"] == "2..8"
  # frame 0 is the input itself: left out (with it, the repeated input would score 100 dB there)
  from jaxvid.data import pipeline
  from jaxvid.metrics import image
  real = pipeline.make_sample_batch(jaxvid.load(workdir).config, 2)["video"]
  still = np.broadcast_to(real[:, :1], real.shape)
  expected = np.asarray(image.psnr(still[:, 1:], real[:, 1:])).mean()
  np.testing.assert_allclose(rows["input frame repeated"]["psnr"], expected, rtol=1e-5)
