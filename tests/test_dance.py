"""python -m jaxvid.dance: two videos in, the target dancing to the source's music out (tiny
preset); a rerun and another source train nothing; every bad input is one line before any
training."""
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxvid.data import synthetic_dancer
from helpers import REPO, click_time, write_video_with_click

# One worker runs this file: its module-scoped workdir is built once.
pytestmark = pytest.mark.xdist_group("test_dance")


def _dance(*args, cwd=REPO):
  return subprocess.run([sys.executable, "-m", "jaxvid.dance", "--preset=tiny", "--noprogress",
                         *args], cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
  """The target: 64 frames (> the tiny preset's 50 whole-body frames) of one dancer, a click at
  2 s; the sources: 30 frames of another subject, with a click at 1.2 s."""
  folder = tmp_path_factory.mktemp("my videos")
  target = synthetic_dancer.render_clip(3, 0, 64, 256, 256, subject_id=0)
  write_video_with_click(folder / "me.mp4", target["video"], 15, click_s=2.0)
  for name, subject in (("them.mp4", 2), ("others.mp4", 1)):
    clip = synthetic_dancer.render_clip(5, 1, 30, 256, 320, subject_id=subject)
    write_video_with_click(folder / name, clip["video"], 15, click_s=1.2)
  return folder


@pytest.fixture(scope="module")
def danced(videos):
  result = _dance("--target=me.mp4", "--source=them.mp4", "--output=out/me dancing.mp4",
                  "--workdir=work", cwd=videos)
  assert result.returncode == 0, result.stderr[-3000:]
  return result


def test_one_command_makes_the_dance_with_the_sources_sound(videos, danced):
  from jaxvid import av_writer, video_io
  out = danced.stdout
  plan = out[out.index("plan ("):out.index("--- poses")]
  for stage in ("poses", "dataset", "stage1", "face", "transfer", "total"):
    assert f"  {stage}" in plan, plan
  assert "steps x" in plan  # measured here, not a constant
  assert "following the largest fully visible person" in out
  output = videos / "out" / "me dancing.mp4"
  info = video_io.probe(str(output))
  assert info.fps == 15 and info.num_frames == 30  # the source's speed and length
  start, duration = av_writer.audio_stream_info(str(output))
  assert start == pytest.approx(0, abs=0.01) and duration == pytest.approx(2.0, abs=1 / 15)
  assert click_time(output) == pytest.approx(1.2, abs=1 / 15)
  assert os.path.exists(videos / "out" / "me dancing_side_by_side.mp4")
  assert "took: poses" in out


def test_a_rerun_does_nothing_and_another_source_trains_nothing(videos, danced):
  import time
  began = time.time()
  again = _dance("--target=me.mp4", "--source=them.mp4", "--output=out/me dancing.mp4",
                 "--workdir=work", cwd=videos)
  assert again.returncode == 0 and "nothing to do" in again.stdout, again.stderr[-2000:]
  assert time.time() - began < 60
  checkpoints = sorted(os.listdir(videos / "work" / "stage1" / "checkpoints"))
  other = _dance("--target=me.mp4", "--source=others.mp4", "--output=out/other.mp4",
                 "--workdir=work", cwd=videos)
  assert other.returncode == 0, other.stderr[-3000:]
  assert "stage1: done" in other.stdout and "face: done" in other.stdout
  assert "step 1/" not in other.stdout + other.stderr  # no training step
  assert sorted(os.listdir(videos / "work" / "stage1" / "checkpoints")) == checkpoints
  assert os.path.exists(videos / "out" / "other.mp4")


def _one_error(result):
  assert result.returncode != 0
  assert "Traceback" not in result.stderr, result.stderr[-2000:]
  lines = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
  assert len(lines) == 1, result.stderr[-2000:]
  return lines[0]


def test_bad_inputs_are_one_line_before_any_training(videos, danced, tmp_path):
  (tmp_path / "notes.mp4").write_text("not a video")
  write_video_with_click(tmp_path / "nobody.mp4", np.full((60, 64, 64, 3), 90, np.uint8), 15,
                         click_s=0.5)
  short = synthetic_dancer.render_clip(3, 0, 20, 256, 256, subject_id=0)
  write_video_with_click(tmp_path / "short.mp4", short["video"], 15, click_s=0.5)
  me, them = str(videos / "me.mp4"), str(videos / "them.mp4")
  before = {p: open(p, "rb").read() for p in (me, them)}
  cases = [
      (["--target=" + str(tmp_path / "notes.mp4"), "--source=" + them], "cannot read"),
      # too few whole-body frames: how many it has, how many the preset needs
      (["--target=" + str(tmp_path / "short.mp4"), "--source=" + them],
       "of its 20 frames; the tiny preset needs 50"),
      (["--target=" + me, "--source=" + str(tmp_path / "nobody.mp4")], "nobody found"),
      (["--target=" + me, "--source=" + them, f"--output={them}", "--overwrite"],
       "one of this command's inputs"),
      (["--target=" + them, "--source=" + them, f"--workdir={videos / 'work'}"],
       "learned another target"),
      (["--target=" + me, "--source=" + them, "--set=train.nope=3"], "no key"),
  ]
  for args, says in cases:
    args = [*args] + ([] if any(a.startswith("--output") for a in args)
                      else [f"--output={tmp_path / 'o.mp4'}"])
    args += [] if any(a.startswith("--workdir") for a in args) else [f"--workdir={tmp_path / 'w'}"]
    result = _dance(*args)
    assert says in _one_error(result), (args, result.stderr[-1500:])
    assert not os.path.exists(tmp_path / "w" / "stage1"), args  # nothing trained
    assert not os.path.exists(tmp_path / "o.mp4")
  assert {p: open(p, "rb").read() for p in (me, them)} == before


def test_overrides_are_read_as_their_keys_types():
  from jaxvid import dance
  from jaxvid.errors import UserError
  from configs import dance as presets
  config = dance._override(presets.get_config("tiny"), ["train.num_steps=7",
                                                        "data.person_crop=0.5",
                                                        "edn.temporal=false"], "set")
  assert (config.train.num_steps, config.data.person_crop, config.edn.temporal) == (7, 0.5, False)
  for bad, says in (("train.nope=1", "no key"), ("train.num_steps", "KEY=VALUE"),
                    ("train.num_steps=many", "takes a int")):
    with pytest.raises(UserError, match=says):
      dance._override(presets.get_config("tiny"), [bad], "set")
