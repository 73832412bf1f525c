"""What many test files share: the repository root, one TFDS data_dir per test process, the
configs at test size, reading a run's checkpoint and metrics back, poisoned batches."""
import importlib
import json
import os
import tempfile

import jax
import numpy as np

from jaxvid import checkpoint as ckpt_lib
from jaxvid.data import pipeline
from jaxvid.trainers import get_trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One TFDS data_dir per test process: the tiny datasets are built once and shared by its tests.
DATA_DIR = tempfile.mkdtemp(prefix="jaxvid-test-tfds-")


def load_config(name="vgan.py", variant="tiny", **overrides):
  """configs/<name>'s `variant`, data built in this process's DATA_DIR; overrides as
  section__key=value."""
  config = importlib.import_module(f"configs.{name.removesuffix('.py')}").get_config(variant)
  config.data.data_dir = DATA_DIR
  for dotted, value in overrides.items():
    node = config
    *path, leaf = dotted.split("__")
    for p in path:
      node = node[p]
    node[leaf] = value
  return config


def load_final_state(config, workdir):
  trainer = get_trainer(config)
  template = trainer.init_state(jax.random.key(0))
  checkpointer = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"), 10, trainer.metadata())
  step = checkpointer.latest_step()
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  state = checkpointer.restore(step, ckpt_lib.abstract_like(template, sharding))
  data_states = checkpointer.data_states(step)
  checkpointer.close()
  return step, state, data_states


def read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def poison_batches(monkeypatch, first: int, last: int | None = None) -> None:
  """Make the training iterator put a NaN in the video of batches first..last (1-based)."""
  make = pipeline.make_train_iterator

  class Poisoned:
    def __init__(self, inner):
      self.inner, self.count = inner, 0

    def __next__(self):
      batch = {k: np.array(v) for k, v in next(self.inner).items()}
      self.count += 1
      if first <= self.count and (last is None or self.count <= last):
        batch["video"][0, 0, 0, 0, 0] = np.nan
      return batch

    def __getattr__(self, name):  # get_state, set_state, close
      return getattr(self.inner, name)

  monkeypatch.setattr(pipeline, "make_train_iterator", lambda *a, **k: Poisoned(make(*a, **k)))


def write_video_with_click(path, frames, fps, click_s, rate=44100, audio_start_s=0.0):
  """An mp4 of `frames` (T, H, W, 3) uint8 at `fps` with an AAC track that is silent but for a
  click (a 10 ms burst) at `click_s` seconds of the video; the audio stream may start
  `audio_start_s` after the video (as in files whose streams do not begin together)."""
  import fractions
  import av
  with av.open(str(path), "w") as container:
    video = container.add_stream("libx264", rate=fractions.Fraction(fps).limit_denominator(1000))
    video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
    audio = container.add_stream("aac", rate=rate)
    audio.layout = "mono"
    for i, frame in enumerate(frames):
      picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
      picture.pts = i
      for packet in video.encode(picture):
        container.mux(packet)
    for packet in video.encode():
      container.mux(packet)
    total = int(len(frames) / fps * rate) - int(audio_start_s * rate)
    samples = np.zeros(total, np.float32)
    at = int((click_s - audio_start_s) * rate)
    samples[at:at + rate // 100] = 0.8
    for start in range(0, total, 1024):
      chunk = samples[start:start + 1024][None]
      sound = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
      sound.sample_rate = rate
      sound.pts = start + int(audio_start_s * rate)
      sound.time_base = fractions.Fraction(1, rate)
      for packet in audio.encode(sound):
        container.mux(packet)
    for packet in audio.encode():
      container.mux(packet)


def click_time(path):
  """When the loudest 10 ms of a file's first audio stream begins, in seconds of the video."""
  import av
  with av.open(str(path)) as container:
    video = container.streams.video[0]
    first_video = float((video.start_time or 0) * video.time_base)
    best, at = 0.0, None
    for frame in container.decode(audio=0):
      samples = np.abs(frame.to_ndarray()).max(0)
      if samples.size and samples.max() > best:
        best = float(samples.max())
        at = float(frame.time) + int(np.argmax(samples > 0.5 * best)) / frame.sample_rate
    return None if at is None else at - first_video
