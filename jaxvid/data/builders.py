"""TFDS builders (array_record: no TensorFlow needed to build or read).

* `synthetic_scenes` — VGAN's embedded default (jaxvid/data/synthetic_scenes.py).
* `synthetic_dancer` — an articulated figure with COCO-18 keypoints (synthetic_dancer.py).
* `video_folder` — a user's own videos from `manual_dir`, cut into clips, optionally stabilised
  (jaxvid/data/video_folder.py).
* `moving_mnist` — TFDS `moving_mnist`'s source file (`mnist_test_seq.npy`) from
  `manual_dir`, converted to the same clip format.
* `ucf101`, `bair_robot_pushing_small`, `moving_mnist_tfds` — a user's local TFDS-prepared
  copy (TFRecord) of those datasets, read without TensorFlow (jaxvid/data/tfds_prepared.py).

Every builder takes its sizes through a BuilderConfig whose name encodes them, so differently
sized versions of one dataset live side by side in one data_dir. Videos are stored as
`tfds.features.Tensor(uint8)` (tfds.features.Video would need TensorFlow to encode).
"""
from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from jaxvid import video_io
from jaxvid.data import synthetic_dancer, synthetic_scenes, tfds_prepared
from jaxvid.data.clip_config import ClipConfig
from jaxvid.data.clip_config import video_feature as _video_feature
from jaxvid.data.video_folder import VideoFolder
from jaxvid.poses.keypoints import LAYOUTS

log = logging.getLogger(__name__)


class _RenderedClips(tfds.core.GeneratorBasedBuilder):
  """Clips made by `self._render(index)`: train = indices [0, num_train), test = the next
  num_test (held out, same generator)."""

  def _render(self, index: int) -> dict:
    raise NotImplementedError

  def _split_generators(self, dl_manager):
    c = self.builder_config
    return {"train": self._generate_examples(0, c.num_train),
            "test": self._generate_examples(c.num_train, c.num_train + c.num_test)}

  def _generate_examples(self, start, stop):
    for i in range(start, stop):
      yield i, dict(self._render(i), index=i)


class SyntheticScenes(_RenderedClips):
  """Sprites moving over static textured backgrounds (VGAN's embedded default)."""
  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIG_CLASS = ClipConfig
  BUILDER_CONFIGS = [ClipConfig(name="default")]

  def _info(self):
    c = self.builder_config
    features = {"video": _video_feature(c.frames, c.height, c.width), "index": np.int64}
    if c.labels:
      if c.labels != "direction":
        raise ValueError(f"synthetic_scenes labels clips by 'direction', not {c.labels!r}")
      features["label"] = np.int32
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(features))

  def _render(self, index: int) -> dict:
    c = self.builder_config
    if c.labels:
      video, label = synthetic_scenes.render_clip(c.seed, index, c.frames, c.height, c.width,
                                                  c.max_sprites, stripes=c.stripes,
                                                  with_direction=True)
      return {"video": video, "label": np.int32(label)}
    return {"video": synthetic_scenes.render_clip(c.seed, index, c.frames, c.height, c.width,
                                                  c.max_sprites, stripes=c.stripes)}


class SyntheticDancer(_RenderedClips):
  """An articulated dancer with COCO-18 keypoints, face box and subject id.

  Train clips cycle through all subjects; test clips are further clips of the same subjects
  (held-out motions), where pose-to-video quality is measured.
  """
  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIG_CLASS = ClipConfig
  BUILDER_CONFIGS = [ClipConfig(name="default", frames=16, height=128, width=128, num_train=512,
                                num_test=64)]

  def _info(self):
    c = self.builder_config
    features = {
        "video": _video_feature(c.frames, c.height, c.width),
        "keypoints": tfds.features.Tensor(shape=(c.frames, LAYOUTS[c.pose_layout], 3),
                                          dtype=np.float32),
        "face_box": tfds.features.Tensor(shape=(c.frames, 4), dtype=np.float32),
        "subject_id": np.int32, "index": np.int64}
    if c.branching:
      moves = len(synthetic_dancer.BRANCH_MOVES)
      features.update(mode=np.int32, branch_keypoints=tfds.features.Tensor(
          shape=(moves, c.frames, 18, 3), dtype=np.float32))
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(features))

  def _render(self, index: int) -> dict:
    c = self.builder_config
    clip = synthetic_dancer.render_clip(c.seed, index, c.frames, c.height, c.width,
                                        subject_id=index % len(synthetic_dancer.SUBJECTS),
                                        scene_per_subject=c.scene_per_subject,
                                        branching=c.branching,
                                        step_frames=c.branch_step_frames)
    if c.pose_layout == "body_face_hands":
      clip["keypoints"] = synthetic_dancer.with_face_hands(clip["keypoints"])
    return clip


class MovingMnistLocal(tfds.core.GeneratorBasedBuilder):
  """Moving MNIST from its source file `mnist_test_seq.npy` (uint8 (20, 10000, 64, 64)) in
  manual_dir: grey frames replicated to RGB, resized to the config size, first `frames` frames."""
  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIG_CLASS = ClipConfig
  BUILDER_CONFIGS = [ClipConfig(name="default", frames=16, height=64, width=64, num_train=9000,
                                num_test=1000)]
  MANUAL_DOWNLOAD_INSTRUCTIONS = "Put mnist_test_seq.npy (the Moving MNIST release) in manual_dir."

  def _info(self):
    c = self.builder_config
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
        "video": _video_feature(c.frames, c.height, c.width), "index": np.int64}))

  def _split_generators(self, dl_manager):
    path = dl_manager.manual_dir / "mnist_test_seq.npy"
    if not path.exists():
      raise FileNotFoundError(f"{path} not found: {self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    sequences = np.load(str(path), mmap_mode="r")
    if sequences.ndim != 4 or sequences.dtype != np.uint8:
      raise ValueError(f"{path}: expected uint8 (frames, sequences, H, W), got "
                       f"{sequences.dtype} {sequences.shape}")
    c = self.builder_config
    if sequences.shape[0] < c.frames:
      raise ValueError(f"{path} has {sequences.shape[0]} frames per sequence, config asks {c.frames}")
    n = sequences.shape[1]
    n_train = min(c.num_train, n)
    n_test = min(c.num_test, n - n_train)
    return {"train": self._generate_examples(sequences, 0, n_train),
            "test": self._generate_examples(sequences, n_train, n_train + n_test)}

  def _generate_examples(self, sequences, start, stop):
    c = self.builder_config
    for i in range(start, stop):
      grey = np.asarray(sequences[:c.frames, i])
      rgb = np.repeat(grey[..., None], 3, axis=-1)
      if rgb.shape[1:3] != (c.height, c.width):
        rgb = video_io.resize_center_crop(rgb, c.height, c.width)
      yield i, {"video": rgb, "index": i}


class _TfdsPreparedVideo(tfds.core.GeneratorBasedBuilder):
  """Clips from a local TFDS-prepared copy (TFRecord) of a video dataset, read without
  TensorFlow. manual_dir = the dataset's version directory, e.g.
  ~/tensorflow_datasets/ucf101/ucf101_1_256/2.0.0. Each video is cut into clips of the config's
  length every `clip_stride` frames, resized and centre-cropped; grey becomes RGB."""
  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIG_CLASS = ClipConfig
  BUILDER_CONFIGS = [ClipConfig(name="default")]
  FEATURE_KEY = ""
  SPLITS = {"train": "train", "test": "test"}  # ours -> theirs
  MANUAL_DOWNLOAD_INSTRUCTIONS = ("Set manual_dir to the version directory of your local "
                                  "TFDS copy (the folder holding the *.tfrecord-* files).")

  def _info(self):
    c = self.builder_config
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
        "video": _video_feature(c.frames, c.height, c.width), "start_frame": np.int64}))

  def _split_generators(self, dl_manager):
    folder = str(dl_manager.manual_dir)
    splits = {}
    for ours, theirs in self.SPLITS.items():
      files = tfds_prepared.split_files(folder, theirs)
      if files:
        splits[ours] = self._generate_examples(files)
    if "train" not in splits:
      raise FileNotFoundError(f"no '*-{self.SPLITS['train']}.tfrecord*' files in {folder}: "
                              f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    return splits

  def _generate_examples(self, files):
    c = self.builder_config
    for path in files:
      for r, record in enumerate(tfds_prepared.read_records(path)):
        video = tfds_prepared.decode_video(record, self.FEATURE_KEY)[::c.frame_step]
        if video.shape[-1] == 1:
          video = np.repeat(video, 3, axis=-1)
        if len(video) < c.frames:
          log.warning("skipping %s record %d: %d frames < %d", path, r, len(video), c.frames)
          continue
        video = video_io.resize_center_crop(video, c.height, c.width)
        for start, clip in video_io.cut_clips(video, c.frames, c.clip_stride):
          yield f"{os.path.basename(path)}:{r}:{start}", {"video": clip, "start_frame": start}


class Ucf101Prepared(_TfdsPreparedVideo):
  """UCF101 from a local TFDS copy (feature 'video')."""
  FEATURE_KEY = "video"


class BairRobotPushingSmallPrepared(_TfdsPreparedVideo):
  """BAIR robot pushing (small) from a local TFDS copy (feature 'image_main')."""
  FEATURE_KEY = "image_main"


class MovingMnistPrepared(_TfdsPreparedVideo):
  """Moving MNIST from a local TFDS copy (feature 'image_sequence'; TFDS has only 'test')."""
  FEATURE_KEY = "image_sequence"
  SPLITS = {"train": "test"}


BUILDERS = {"synthetic_scenes": SyntheticScenes, "synthetic_dancer": SyntheticDancer,
            "video_folder": VideoFolder, "moving_mnist": MovingMnistLocal,
            "moving_mnist_tfds": MovingMnistPrepared, "ucf101": Ucf101Prepared,
            "bair_robot_pushing_small": BairRobotPushingSmallPrepared}
