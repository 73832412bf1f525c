"""TFDS builders (array_record: no TensorFlow needed to build or read).

* `synthetic_scenes` — VGAN's embedded default (jaxvid/data/synthetic_scenes.py).
* `synthetic_dancer` — an articulated figure with COCO-18 keypoints (synthetic_dancer.py).
* `video_folder` — a user's own videos from `manual_dir`, cut into clips, optionally stabilised.
* `moving_mnist` — TFDS `moving_mnist`'s source file (`mnist_test_seq.npy`) from
  `manual_dir`, converted to the same clip format.
* `ucf101`, `bair_robot_pushing_small`, `moving_mnist_tfds` — a user's local TFDS-prepared
  copy (TFRecord) of those datasets, read without TensorFlow (jaxvid/data/tfds_prepared.py).

Every builder takes its sizes through a BuilderConfig whose name encodes them, so differently
sized versions of one dataset live side by side in one data_dir. Videos are stored as
`tfds.features.Tensor(uint8)` (tfds.features.Video would need TensorFlow to encode).
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from jaxvid.data import synthetic_dancer, synthetic_scenes, tfds_prepared, video_io

log = logging.getLogger(__name__)


def _video_feature(frames: int, height: int, width: int):
  return tfds.features.Tensor(shape=(frames, height, width, 3), dtype=np.uint8)


@dataclasses.dataclass(eq=False)
class ClipConfig(tfds.core.BuilderConfig):
  """Clip size and split sizes shared by every builder; `name` is derived from the fields.

  Users' configs get that derived name and are passed to builders as custom configs (which is
  also what grain's worker processes re-create); each class's own BUILDER_CONFIGS entry is named
  "default", because TFDS refuses a custom config object under an existing config's name.
  """
  name: str = ""
  frames: int = 16
  height: int = 32
  width: int = 32
  num_train: int = 4096
  num_test: int = 256
  seed: int = 1234
  # synthetic_scenes
  max_sprites: int = 3
  # video_folder
  clip_stride: int = 8
  frame_step: int = 1
  stabilize: bool = False
  test_fraction: float = 0.1
  # synthetic_dancer: one scene (background, lighting) per subject, like one target video
  scene_per_subject: bool = False
  # video_folder: also store per-frame COCO-18 keypoints + face boxes (MediaPipe, poses/extract)
  with_poses: bool = False
  # synthetic_dancer: futures that branch into one of K moves (The Pose Knows' pose-VAE)
  branching: bool = False

  def __post_init__(self):
    fields = dataclasses.asdict(self)
    for k in ("name", "version", "release_notes", "supported_versions", "description", "tags"):
      fields.pop(k, None)
    for later in ("scene_per_subject", "with_poses", "branching"):  # added later: when off, keep the names
      if not fields[later]:                           # the datasets already have
        fields.pop(later)
    digest = hashlib.sha1(repr(sorted(fields.items())).encode()).hexdigest()[:8]
    if not self.name:  # the classes' own configs are named "default": no clash with these
      object.__setattr__(self, "name", f"t{self.frames}_{self.height}x{self.width}_{digest}")
    object.__setattr__(self, "version", tfds.core.Version("1.0.0"))


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
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
        "video": _video_feature(c.frames, c.height, c.width), "index": np.int64}))

  def _render(self, index: int) -> dict:
    c = self.builder_config
    return {"video": synthetic_scenes.render_clip(c.seed, index, c.frames, c.height, c.width,
                                                  c.max_sprites)}


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
        "keypoints": tfds.features.Tensor(shape=(c.frames, 18, 3), dtype=np.float32),
        "face_box": tfds.features.Tensor(shape=(c.frames, 4), dtype=np.float32),
        "subject_id": np.int32, "index": np.int64}
    if c.branching:
      moves = len(synthetic_dancer.BRANCH_MOVES)
      features.update(mode=np.int32, branch_keypoints=tfds.features.Tensor(
          shape=(moves, c.frames, 18, 3), dtype=np.float32))
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(features))

  def _render(self, index: int) -> dict:
    c = self.builder_config
    return synthetic_dancer.render_clip(c.seed, index, c.frames, c.height, c.width,
                                        subject_id=index % len(synthetic_dancer.SUBJECTS),
                                        scene_per_subject=c.scene_per_subject,
                                        branching=c.branching)


@dataclasses.dataclass
class BuildReport:
  videos_found: int = 0
  videos_skipped: list = dataclasses.field(default_factory=list)  # (path, reason)
  clips_written: int = 0
  clips_dropped_unstable: int = 0
  split: str = ""  # how train and test were separated


class VideoFolder(tfds.core.GeneratorBasedBuilder):
  """A user's videos from `manual_dir` (mp4/avi/mov/webm/mkv), cut into fixed-length clips.

  Split: with enough videos, whole videos go to train or test by a hash of their path (so clips
  of one video never straddle the split). When that leaves either side empty (one video, or a
  few), every video is split in time instead: its last `test_fraction` of frames (at least one
  clip's worth) are test, the frames before are train, so train and test clips never share a
  frame; the build summary says which split was used. Videos are decoded frame by frame and
  resized on the fly, and clips come out of a window of `frames` frames: memory does not grow
  with a video's length. Corrupt, unreadable and too-short files are skipped with a warning
  naming them; an empty result is an error, never an empty split.
  """
  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIG_CLASS = ClipConfig
  BUILDER_CONFIGS = [ClipConfig(name="default")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = "Put your videos (any folder structure) in manual_dir."

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.report = BuildReport()
    self._pose_cache = {}

  def _info(self):
    c = self.builder_config
    features = {"video": _video_feature(c.frames, c.height, c.width),
                "source": tfds.features.Text(), "start_frame": np.int64}
    if c.with_poses:  # the same fields as synthetic_dancer, so the pose models train on it
      features.update({
          "keypoints": tfds.features.Tensor(shape=(c.frames, 18, 3), dtype=np.float32),
          "face_box": tfds.features.Tensor(shape=(c.frames, 4), dtype=np.float32),
          "subject_id": np.int32})
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(features))

  def _frame_count(self, path: str) -> int | None:
    """Frames after frame_step, or None (reported and skipped) for an unreadable file."""
    c = self.builder_config
    try:
      return -(-video_io.probe(path).num_frames // c.frame_step)
    except video_io.VideoReadError as e:
      self._skip(path, str(e))
      return None

  def _skip(self, path: str, reason: str) -> None:
    log.warning("skipping %s", reason)
    self.report.videos_skipped.append((path, reason))

  def _split_generators(self, dl_manager):
    c = self.builder_config
    if c.with_poses and c.stabilize:
      raise ValueError("video_folder: with_poses and stabilize cannot be combined (the poses "
                       "are extracted on the unwarped frames)")
    folder = str(dl_manager.manual_dir)
    videos = video_io.list_videos(folder)
    self.report = BuildReport(videos_found=len(videos))
    if not videos:
      raise FileNotFoundError(f"no videos ({', '.join(video_io.VIDEO_EXTENSIONS)}) in {folder}")
    in_test = lambda p: int(hashlib.sha1(p.encode()).hexdigest(), 16) % 1000 < 1000 * c.test_fraction
    test = [p for p in videos if in_test(p)]
    train = [p for p in videos if not in_test(p)]
    if c.test_fraction <= 0:
      self.report.split = "train only (test_fraction 0)"
      return {"train": self._generate_examples([(p, 0, None) for p in videos])}
    if train and test:
      self.report.split = f"per video: {len(train)} train, {len(test)} test videos"
      return {"train": self._generate_examples([(p, 0, None) for p in train]),
              "test": self._generate_examples([(p, 0, None) for p in test])}
    # Too few videos for whole ones on each side: hold out the end of every video.
    train, test = [], []
    for path in videos:
      count = self._frame_count(path)
      if count is None:
        continue
      held = max(c.frames, round(count * c.test_fraction))
      if count - held >= c.frames:
        train.append((path, 0, count - held))
        test.append((path, count - held, None))
      else:  # too short for both: all of it trains
        train.append((path, 0, None))
    self.report.split = (f"within videos: the last {100 * c.test_fraction:g}% of each video's "
                         f"frames (at least {c.frames}) held out as test"
                         if test else "train only: the videos are too short to hold out a clip")
    splits = {"train": self._generate_examples(train)}
    if test:  # TFDS refuses empty splits
      splits["test"] = self._generate_examples(test)
    return splits

  def summary(self) -> str:
    r = self.report
    skipped = "; ".join(reason for _, reason in r.videos_skipped) or "none"
    return (f"{r.videos_found} videos found, {len(r.videos_skipped)} skipped ({skipped}), "
            f"{r.clips_written} clips written, {r.clips_dropped_unstable} dropped as "
            f"unstabilisable; split {r.split}")

  def video_clips(self, path: str, first: int = 0, last: int | None = None):
    """(start, clip uint8 (frames, H, W, 3)) for the clips inside frames [first, last) (after
    frame_step), streaming: at most `frames` frames are held (full size only to stabilise)."""
    import collections
    c = self.builder_config
    window = collections.deque(maxlen=c.frames)
    for i, frame in enumerate(video_io.iter_frames(path, frame_step=c.frame_step)):
      if last is not None and i >= last:
        break
      if i < first:
        continue
      window.append(frame if c.stabilize else
                    video_io.resize_center_crop_frame(frame, c.height, c.width))
      start = i - c.frames + 1
      if len(window) == c.frames and (start - first) % c.clip_stride == 0:
        clip = np.stack(window)
        if c.stabilize:
          clip = video_io.stabilize_clip(clip)
          if clip is None:
            self.report.clips_dropped_unstable += 1
            continue
          clip = video_io.resize_center_crop(clip, c.height, c.width)
        yield start, clip

  def _generate_examples(self, parts):
    c = self.builder_config
    for path, first, last in parts:
      try:
        count = 0
        poses = self._poses(path) if c.with_poses else None
        for start, clip in self.video_clips(path, first, last):
          count += 1
          self.report.clips_written += 1
          example = {"video": clip, "source": path, "start_frame": start}
          if poses is not None:
            end = start + c.frames
            example.update(keypoints=poses[0][start:end], face_box=poses[1][start:end],
                           subject_id=0)
          yield f"{path}:{start}", example
      except video_io.VideoReadError as e:
        self._skip(path, str(e))
        continue
      if not count and first == 0 and not c.stabilize:
        self._skip(path, f"{path}: fewer frames than the {c.frames} of one clip")

  def _poses(self, path: str):
    """Keypoints and face boxes of a whole video (detected on the full-resolution frames, one
    at a time), mapped like the frames; once per video (train and test may both need them)."""
    from jaxvid.poses import extract
    if path in self._pose_cache:
      return self._pose_cache[path]
    c = self.builder_config
    if not hasattr(self, "_extractor"):
      self._extractor = extract.PoseExtractor()
    poses = self._extractor.video(video_io.iter_frames(path, frame_step=c.frame_step))
    size = poses.size
    keypoints = poses.keypoints.copy()
    keypoints[..., :2] = video_io.resize_center_crop_points(keypoints[..., :2], size, c.height,
                                                            c.width)
    boxes = extract.fill_missing_boxes(poses.face_boxes, size)
    corners = video_io.resize_center_crop_points(boxes.reshape(-1, 2, 2), size, c.height, c.width)
    self._pose_cache[path] = (keypoints.astype(np.float32),  # ~0.2 kB a frame: keep them all
                              corners.reshape(-1, 4).astype(np.float32))
    return self._pose_cache[path]


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
