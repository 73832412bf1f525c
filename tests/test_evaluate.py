"""python -m jaxvid.evaluate on a tiny trained pose GAN, baselines included."""
import json
import subprocess
import sys

import numpy as np
import pytest

from jaxvid import evaluate, train
from jaxvid.errors import UserError
from jaxvid.trainers import get_trainer
from train_test import REPO, load_config


@pytest.fixture(scope="module")
def gan_workdir(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("eval") / "gan")
  train.train_and_evaluate(load_config("pose_gan.py", data__frames=16), workdir)
  return workdir


def test_report_has_the_model_and_the_baselines(gan_workdir):
  report = evaluate.evaluate(gan_workdir, ["fvd", "ssim", "psnr", "lpips"], 2, baselines=True)
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
  assert "step 4" in evaluate.format_table(report)


def test_asking_for_more_clips_than_the_test_split_has_is_refused(gan_workdir):
  from jaxvid import checkpoint as ckpt_lib
  from jaxvid.data import pipeline
  held_out = len(pipeline.held_out_source(ckpt_lib.load_config(gan_workdir)))
  with pytest.raises(UserError, match=f"held-out split has {held_out} clips"):
    evaluate.evaluate(gan_workdir, ["ssim"], held_out + 1, baselines=False)


def test_cli_writes_json_and_rejects_unknown_metrics(gan_workdir, tmp_path):
  out = tmp_path / "new" / "report.json"  # a folder that does not exist yet
  run = lambda *a: subprocess.run([sys.executable, "-m", "jaxvid.evaluate", *a], cwd=REPO,
                                  capture_output=True, text=True, timeout=600)
  result = run(f"--workdir={gan_workdir}", "--metrics=ssim,psnr", "--num_videos=2",
               f"--output={out}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert set(json.loads(out.read_text())["rows"]["pose_gan (step 4)"]) == {
      "ssim", "ssim_95", "psnr", "psnr_95"}
  result = run(f"--workdir={gan_workdir}", "--step=2", "--metrics=ssim", "--num_videos=2",
               f"--output={out}")  # an earlier checkpoint
  assert result.returncode == 0 and json.loads(out.read_text())["step"] == 2, result.stderr[-2000:]
  result = run(f"--workdir={gan_workdir}", "--metrics=ssim,inception")
  assert result.returncode == 1 and "unknown metrics" in result.stderr
  with pytest.raises(UserError, match="pose_forecast"):
    evaluate.generate(get_trainer(load_config("pose_vae.py")), None, {"video": []}, None)


def test_stylegan_v_protocol_is_fvd_of_its_own_clip_count_and_refuses_what_it_cannot(
    tmp_path, monkeypatch):
  workdir = str(tmp_path / "vgan16")
  train.train_and_evaluate(load_config("vgan.py", data__frames=16), workdir)
  with pytest.raises(UserError, match="needs 2048 real clips"):
    evaluate.evaluate_stylegan_v(workdir)  # the tiny dataset has far fewer
  monkeypatch.setattr(evaluate, "STYLEGAN_V_VIDEOS", 8)  # the same path on a tiny budget
  report = evaluate.evaluate_stylegan_v(workdir)
  row = next(iter(report["rows"].values()))
  assert report["protocol"] == "stylegan_v" and report["videos"] == 8 and not report["paired"]
  assert set(row) == {"fvd", "fvd_95"} and row["fvd"] > 0
  assert "StyleGAN-V protocol" in evaluate.format_table(report)
  with pytest.raises(UserError, match="takes clips of 16 frames"):
    evaluate.evaluate_stylegan_v(_trained(tmp_path, "vgan.py"))  # 8-frame clips
  with pytest.raises(UserError, match="unconditional"):
    evaluate.evaluate_stylegan_v(_trained(tmp_path, "vgan_cond.py"))


def _trained(tmp_path, name):
  workdir = str(tmp_path / name)
  train.train_and_evaluate(load_config(name), workdir)
  return workdir
