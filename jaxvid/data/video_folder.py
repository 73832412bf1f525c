"""The `video_folder` builder: a user's own videos, streamed into clips (optionally with poses)."""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from jaxvid import shot_cuts, video_io
from jaxvid.data import labels as labels_lib
from jaxvid.data.clip_config import ClipConfig, video_feature
from jaxvid.poses import clip_input, extract, track
from jaxvid.poses.keypoints import LAYOUTS, NUM_JOINTS

log = logging.getLogger(__name__)


def folder_digest(folder: str) -> str:
  """What the dataset of a folder depends on: its real path and every video's relative path,
  size and modification time (not the contents: reading them all would take as long as a
  build)."""
  root = os.path.realpath(os.path.expanduser(folder))
  entries = [root]
  for path in video_io.list_videos(root):
    stat = os.stat(path)
    entries.append(f"{os.path.relpath(path, root)}:{stat.st_size}:{stat.st_mtime_ns}")
  return hashlib.sha1("\n".join(entries).encode()).hexdigest()[:10]


@dataclasses.dataclass
class BuildReport:
  videos_found: int = 0
  videos_skipped: list = dataclasses.field(default_factory=list)  # (path, reason)
  clips_written: int = 0
  clips_dropped_unstable: int = 0
  split: str = ""  # how train and test were separated
  header_mismatches: list = dataclasses.field(default_factory=list)  # headers that lie
  pose_warnings: list = dataclasses.field(default_factory=list)
  cuts: dict = dataclasses.field(default_factory=dict)  # path -> the frames that start a shot
  classes: list = dataclasses.field(default_factory=list)  # labels='folder': class names


class VideoFolder(tfds.core.GeneratorBasedBuilder):
  """A user's videos from `manual_dir` (mp4/avi/mov/webm/mkv), cut into fixed-length clips.

  Split: with enough videos (test_fraction x videos >= 1), whole videos go to train or test by a
  hash of their path (so clips of one video never straddle the split). With fewer, or when the
  hash leaves either side empty, every video is split in time instead: its last `test_fraction` of frames (at least one
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
    self._label_of = {}

  def _info(self):
    c = self.builder_config
    features = {"video": video_feature(c.frames, c.height, c.width),
                "source": tfds.features.Text(), "start_frame": np.int64}
    if c.labels:
      if c.labels != "folder":
        raise ValueError(f"video_folder labels clips by 'folder', not {c.labels!r}")
      features["label"] = np.int32
    if c.with_poses:  # the same fields as synthetic_dancer, so the pose models train on it
      features.update({
          "keypoints": tfds.features.Tensor(shape=(c.frames, LAYOUTS[c.pose_layout], 3),
                                            dtype=np.float32),
          "face_box": tfds.features.Tensor(shape=(c.frames, 4), dtype=np.float32),
          "subject_id": np.int32})
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(features))

  def _frame_count(self, path: str) -> int | None:
    """Frames that decode, after frame_step, or None (reported and skipped) for an unreadable
    file. Not the header's count: where it claims more (old AVIs, truncated files), the
    held-out end of the video would lie past its last frame; the summary says so."""
    c = self.builder_config
    try:
      info = video_io.probe(path)
      count = video_io.decodable_frames(path, info)
    except video_io.VideoReadError as e:
      self._skip(path, str(e))
      return None
    if count < info.num_frames:
      note = (f"{path}: its header claims {info.num_frames} frames, {count} decode; split by "
              f"the {count}")
      log.warning("%s", note)
      self.report.header_mismatches.append(note)
    return -(-count // c.frame_step)

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
    if c.labels:
      self.report.classes, self._label_of = labels_lib.folder_classes(folder, videos)
    if c.split_list:
      if not c.labels:
        raise ValueError("config.data.split_list needs config.data.labels='folder'")
      train, test = labels_lib.official_split(c.split_list, folder, videos)
      self.report.split = (f"{os.path.basename(c.split_list)}: {len(train)} train, "
                           f"{len(test)} test videos")
      return {"train": self._generate_examples([(p, 0, None) for p in train]),
              "test": self._generate_examples([(p, 0, None) for p in test])}
    in_test = lambda p: int(hashlib.sha1(p.encode()).hexdigest(), 16) % 1000 < 1000 * c.test_fraction
    test = [p for p in videos if in_test(p)]
    train = [p for p in videos if not in_test(p)]
    if c.test_fraction <= 0:
      self.report.split = "train only (test_fraction 0)"
      return {"train": self._generate_examples([(p, 0, None) for p in videos])}
    if train and test and len(videos) * c.test_fraction >= 1:
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
            f"unstabilisable; split {r.split}"
            + (f"; {len(r.classes)} classes ({', '.join(r.classes[:5])}"
               f"{', ...' if len(r.classes) > 5 else ''})" if r.classes else "")
            + "".join(f"; {os.path.basename(path)}: {len(cuts) + 1} shots (cuts at frames "
                      f"{', '.join(map(str, sorted(cuts)))})"
                      for path, cuts in sorted(r.cuts.items()) if cuts)
            + "".join(f"; WARNING {w}" for w in r.pose_warnings + r.header_mismatches))

  def video_clips(self, path: str, first: int = 0, last: int | None = None, person=None):
    """(start, clip uint8 (frames, H, W, 3)) for the clips inside frames [first, last) (after
    frame_step), streaming: at most `frames` frames are held (full size only to stabilise);
    each frame the centre crop, or the `person` window (x0, y0, x1, y1) of person_crop."""
    c = self.builder_config
    fit = ((lambda f: clip_input.crop_frames(f[None], person, c.height, c.width)[0])
           if person is not None else
           (lambda f: video_io.resize_center_crop_frame(f, c.height, c.width)))
    window = collections.deque(maxlen=c.frames)
    detector = shot_cuts.CutDetector() if c.split_shots else None
    origin = first  # clips start every clip_stride frames from here: the part's or shot's start
    for i, frame in enumerate(video_io.iter_frames(path, frame_step=c.frame_step)):
      if last is not None and i >= last:
        break
      if detector is not None and detector.is_cut(frame):  # on every frame, from the first
        self.report.cuts.setdefault(path, set()).add(i)
        window.clear()
        origin = max(first, i)
      if i < first:
        continue
      window.append(frame if c.stabilize else fit(frame))
      start = i - c.frames + 1
      if len(window) == c.frames and (start - origin) % c.clip_stride == 0:
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
        raw = self._poses(path) if c.with_poses else None
        person = self._person_window(raw) if raw is not None and c.person_crop else None
        poses = self._fitted(raw, person) if raw is not None else None
        for start, clip in self.video_clips(path, first, last, person):
          count += 1
          self.report.clips_written += 1
          example = {"video": clip, "source": path, "start_frame": start}
          if c.labels:
            example["label"] = np.int32(self._label_of[path])
          if poses is not None:
            end = start + c.frames
            example.update(keypoints=poses[0][start:end], face_box=poses[1][start:end],
                           subject_id=0)
          yield f"{path}:{start}", example
      except video_io.VideoReadError as e:
        self._skip(path, str(e))
        continue
      if not count and first == 0 and not c.stabilize:
        self._skip(path, f"{path}: fewer frames than the {c.frames} of one clip"
                   + (" in any one of its shots" if self.report.cuts.get(path) else ""))

  def _poses(self, path: str):
    """Keypoints, face boxes and frame size of a whole video in its own pixels, of the person
    followed through it (data.person, by default the largest fully visible at the start:
    poses/track.py), from the
    pose cache of earlier extractions of the same file (extract.cached_poses: the one-command
    pipeline extracts first); once per video (train and test may both need them)."""
    if path in self._pose_cache:
      return self._pose_cache[path]
    c = self.builder_config
    if not hasattr(self, "_extractor"):
      self._extractor = extract.PoseExtractor()
    poses = extract.cached_poses(path, track.Choice.parse(c.person, "config.data.person"),
                                 show_progress=False, extractor=self._extractor,
                                 log=lambda line: log.info("%s: %s", path, line),
                                 face_hands=c.pose_layout != "body")
    keypoints = poses.points(c.pose_layout)[::c.frame_step]
    boxes = poses.face_boxes[::c.frame_step]
    detected = poses.detected[::c.frame_step]
    rate = float(detected.mean()) if len(detected) else 0.0
    if rate < 0.5:  # the pose models would train on mostly-missing joints
      message = (f"{path}: a person found in only {100 * rate:.0f}% of the frames (MediaPipe "
                 f"needs the whole body, reasonably large)")
      log.warning(message)
      self.report.pose_warnings.append(message)
    boxes = extract.fill_missing_boxes(boxes, poses.size)
    self._pose_cache[path] = (keypoints.astype(np.float32), boxes, poses.size)
    return self._pose_cache[path]

  def _person_window(self, raw):
    """The window that frames the video's person (person_crop of its height; 1 % of their
    joints at each end left out), fixed for the whole video as a static camera's, inside the
    frame."""
    c = self.builder_config
    keypoints, _, size = raw
    return clip_input.person_window(keypoints[:, :NUM_JOINTS], c.width / c.height, person_height=c.person_crop,
                                    frame=size, spread=0.01)

  def _fitted(self, raw, person):
    """The poses mapped as the frames are: into the person window, or the centre crop."""
    c = self.builder_config
    keypoints, boxes, size = raw
    keypoints = keypoints.copy()
    corners = boxes.reshape(-1, 2, 2)
    if person is not None:
      keypoints[..., :2] = clip_input.crop_points(keypoints[..., :2], person, c.height, c.width)
      corners = clip_input.crop_points(corners, person, c.height, c.width)
    else:
      keypoints[..., :2] = video_io.resize_center_crop_points(keypoints[..., :2], size, c.height,
                                                              c.width)
      corners = video_io.resize_center_crop_points(corners, size, c.height, c.width)
    return keypoints.astype(np.float32), corners.reshape(-1, 4).astype(np.float32)
