"""The clip-size BuilderConfig every jaxvid TFDS builder takes, and the stored video feature."""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import tensorflow_datasets as tfds

from jaxvid.config_defaults import DATA_DEFAULTS  # the settings' one home


def video_feature(frames: int, height: int, width: int):
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
  seed: int = DATA_DEFAULTS["seed"]
  # synthetic_scenes
  max_sprites: int = DATA_DEFAULTS["max_sprites"]
  stripes: float = DATA_DEFAULTS["stripes"]
  # video_folder
  clip_stride: int = DATA_DEFAULTS["clip_stride"]
  frame_step: int = DATA_DEFAULTS["frame_step"]
  stabilize: bool = DATA_DEFAULTS["stabilize"]
  split_shots: bool = DATA_DEFAULTS["split_shots"]  # clips never straddle a shot cut
  labels: str = DATA_DEFAULTS["labels"]  # '', 'direction' or 'folder'
  split_list: str = DATA_DEFAULTS["split_list"]  # UCF-101's trainlist0N.txt
  test_fraction: float = DATA_DEFAULTS["test_fraction"]
  # synthetic_dancer: one scene (background, lighting) per subject, like one target video
  scene_per_subject: bool = DATA_DEFAULTS["scene_per_subject"]
  # video_folder: also store per-frame COCO-18 keypoints + face boxes (MediaPipe, poses/extract)
  with_poses: bool = DATA_DEFAULTS["with_poses"]
  # synthetic_dancer: futures that branch into one of K moves (The Pose Knows' pose-VAE)
  branching: bool = DATA_DEFAULTS["branching"]
  branch_step_frames: int = DATA_DEFAULTS["branch_step_frames"]
  # video_folder with poses: the person's window instead of the centre crop (0: centre)
  person_crop: float = DATA_DEFAULTS["person_crop"]
  person: str = DATA_DEFAULTS["person"]  # video_folder with poses: whom to follow
  pose_layout: str = DATA_DEFAULTS["pose_layout"]  # 'body' or 'body_face_hands'
  # video_folder: a digest of the folder (path, files, sizes, mtimes), so another folder or
  # changed videos make another dataset instead of silently reusing the first one
  source_digest: str = ""

  def __post_init__(self):
    fields = dataclasses.asdict(self)
    for k in ("name", "version", "release_notes", "supported_versions", "description", "tags"):
      fields.pop(k, None)
    for later in ("scene_per_subject", "with_poses", "branching", "source_digest",
                  "split_shots", "labels", "split_list"):  # added later: when off, keep the names
      if not fields[later]:                           # the datasets already have
        fields.pop(later)
    for later, default in (("branch_step_frames", 1), ("stripes", DATA_DEFAULTS["stripes"]),
                           ("person_crop", 0.0), ("person", "largest"),
                           ("pose_layout", "body")):
      if fields[later] == default:  # added later too: their defaults keep the names
        fields.pop(later)
    digest = hashlib.sha1(repr(sorted(fields.items())).encode()).hexdigest()[:8]
    if not self.name:  # the classes' own configs are named "default": no clash with these
      object.__setattr__(self, "name", f"t{self.frames}_{self.height}x{self.width}_{digest}")
    object.__setattr__(self, "version", tfds.core.Version("1.0.0"))
