"""Config sections every model shares; configs/*.py start from these and override."""
import importlib.util
import math
import os

import ml_collections

# config.data's settings beside the clip size, with their defaults: the one place they live
# (data() copies them; data_value() fills them in for configs written before a key existed;
# the TFDS builders' own ClipConfig defaults are these too).
DATA_DEFAULTS = {
    "data_dir": "",  # "" = TFDS's default (~/tensorflow_datasets)
    "manual_dir": "",  # video_folder / moving_mnist / local TFDS copies: the user's files
    "seed": 1234,  # dataset content and shuffling
    "max_sprites": 3,  # synthetic_scenes
    "stripes": 0.08,  # synthetic_scenes: amplitude of the backgrounds' stripes (0: none)
    "clip_stride": 8,  # video_folder: frames between clip starts
    "frame_step": 1,  # video_folder: keep every n-th frame
    # video_folder: the share of videos held out as test, or (one or two videos) of the end
    # of each video
    "test_fraction": 0.1,
    "stabilize": False,  # video_folder: VGAN-style homography stabilisation
    # video_folder: cut each video at its shot cuts (jaxvid/shot_cuts.py), so that no clip
    # jumps from one shot to the next
    "split_shots": True,
    # a class label with every clip: '' (none), 'direction' (synthetic_scenes: the first
    # sprite's starting direction, 4 classes) or 'folder' (video_folder: the top-level
    # sub-folder each video is in, UCF-101's layout)
    "labels": "",
    # video_folder with labels='folder': UCF-101's trainlist0N.txt (its testlist0N.txt beside
    # it): the official split instead of test_fraction
    "split_list": "",
    "with_poses": False,  # video_folder: extract keypoints + face boxes (MediaPipe)
    # video_folder with poses: frame each video on its person (a window in which their joints
    # span this share of the height, the same for every frame) instead of the centre crop
    "person_crop": 0.0,
    # video_folder with poses: whom to follow where several are in view (poses/track.py):
    # 'largest' or 'X,Y' (a pixel of the frame the person is in)
    "person": "largest",
    # poses stored with the clips: 'body' (COCO-18) or 'body_face_hands' (also 8 face points
    # and both hands, as Everybody Dance Now draws its label maps: poses/keypoints.py)
    "pose_layout": "body",
    "subject": -1,  # synthetic_dancer: only this subject's clips (-1: all)
    "scene_per_subject": False,  # synthetic_dancer: one background per subject
    "branching": False,  # synthetic_dancer: futures branch into one of K moves (pose-VAE)
    # synthetic_dancer with branching: video frames per pose step of the branch's timing (the
    # pose-VAE's frames_per_step; the branch after 2 steps, the move over 5)
    "branch_step_frames": 1,
    "workers": 0,  # grain worker processes (0: read in the main process)
    # MB of training records kept in memory once read (with workers=0; 0: read every time)
    "cache_mb": 1024,
}


def data(name: str, frames: int, height: int, width: int, num_clips: int,
         num_test: int = 64) -> ml_collections.ConfigDict:
  """config.data: which TFDS builder of jaxvid/data/builders.py and its clip sizes."""
  return ml_collections.ConfigDict({
      "name": name, "frames": frames, "height": height, "width": width,
      "num_clips": num_clips,  # train split size (synthetic) / at most (moving_mnist)
      "num_test": num_test, **DATA_DEFAULTS})


def data_value(data_config, key: str):
  """config.data[key], or its default where the config predates the key (a workdir's)."""
  return data_config.get(key, DATA_DEFAULTS[key])


# Keys that name files or folders of the machine a model was trained on.
PATH_KEYS = ("data.data_dir", "data.manual_dir", "data.split_list", "classify.init_from",
             "edn.vgg19_weights", "edn.stage1_workdir",
             "train.init_from")


def clear_machine_paths(config) -> list[str]:
  """Empty every PATH_KEYS value of `config` (in place): an export's config comes from another
  machine, and a model from elsewhere never chooses where this one reads or writes (its
  datasets, caches, weights); the user's flags and the defaults decide. Returns the
  'key=value' items cleared."""
  cleared = []
  for dotted in PATH_KEYS:
    section, key = dotted.split(".")
    node = config.get(section)
    if node is not None and node.get(key):
      cleared.append(f"{dotted}={node[key]}")
      node[key] = ""
  return cleared


# How the records are read, not which: two configs that differ only here have the same data.
READING_KEYS = ("workers", "cache_mb")


def data_identity(data_config) -> dict:
  """The settings that decide a config's clips: config.data with every default filled in
  (a workdir's config may predate a key) and without how they are read (READING_KEYS)."""
  values = {**DATA_DEFAULTS, **data_config.to_dict()}
  return {k: v for k, v in values.items() if k not in READING_KEYS}


def train(batch_size: int, num_steps: int, log_every: int, checkpoint_every: int,
          sample_every: int, num_samples: int, sample_fps: int) -> ml_collections.ConfigDict:
  """config.train: the shared loop's schedule and outputs."""
  return ml_collections.ConfigDict({
      "batch_size": batch_size, "num_steps": num_steps, "log_every": log_every,
      # > 0 with num_steps = 0: the steps are this many epochs of the training frames, computed
      # at start (jaxvid/schedule.py: the authors' code counts epochs)
      "num_epochs": 0,
      "checkpoint_every": checkpoint_every, "sample_every": sample_every, "max_to_keep": 3,
      "num_samples": num_samples, "sample_fps": sample_fps, "video_format": "gif,mp4",
      # A non-finite loss or gradient norm: 'stop' (name the step and term, keep the last good
      # checkpoint) or 'skip' (drop that update, count it, go on).
      "on_nonfinite": "stop",
      # Weights & Biases project to log the scalars to as well ('' = off; needs `pip install
      # wandb` and a login); TensorBoard and metrics.jsonl are always written.
      "wandb": "",
      # A workdir of a run of the same model: a fresh run starts from the parameters of its
      # newest checkpoint (fine-tuning; Adam and the step start afresh). '' = from scratch.
      "init_from": "",
      # Resume a run whose training data changed (videos added to a video_folder, say): the
      # model, optimizer and step resume, the data order starts afresh on the new data.
      "fresh_data_iterator": False,
  })


def adam(learning_rate: float, b1: float = 0.5, b2: float = 0.999,
         decay_steps: int = 0) -> ml_collections.ConfigDict:
  """config.optim: Adam (the GANs' 2e-4, beta1 0.5 unless given); decay_steps > 0: the rate
  falls linearly to 0 over the last decay_steps of train.num_steps (pix2pixHD's niter_decay)."""
  return ml_collections.ConfigDict({"learning_rate": learning_rate, "b1": b1, "b2": b2,
                                    "decay_steps": decay_steps, "decay_epochs": 0})


def tiny_train(batch_size: int, num_steps: int = 4, sample_fps: int = 8) -> ml_collections.ConfigDict:
  """config.train of the `:tiny` test variants: log every step, checkpoint halfway and at the
  end, one sample video at the end."""
  return train(batch_size=batch_size, num_steps=num_steps, log_every=1,
               checkpoint_every=max(1, num_steps // 2), sample_every=num_steps, num_samples=2,
               sample_fps=sample_fps)


def load(spec: str) -> ml_collections.ConfigDict:
  """'path/to/config.py[:variant]' -> its get_config(variant), as --config would load it
  (for notebooks and scripts)."""
  path, _, variant = spec.partition(":")
  if not os.path.exists(path):
    raise FileNotFoundError(f"config file {path} does not exist")
  module_spec = importlib.util.spec_from_file_location("jaxvid_config", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(variant)


VIDEO_FORMATS = ("gif", "mp4")
MAX_SYNTHETIC_CLIPS = 1_000_000  # a million 16x64x64 clips: ~200 GB and a day to build


def validate(config) -> None:
  """The shared sections' values, checked at start-up (before any dataset build or
  compilation); raises ValueError naming the key and what it allows."""
  def need(ok: bool, key: str, value, allowed: str):
    if not ok:
      raise ValueError(f"config.{key}={value!r}: {allowed}")

  t, d = config.train, config.data
  for key in ("batch_size", "log_every", "checkpoint_every", "sample_every", "num_samples"):
    value = t.get(key)
    need(isinstance(value, int) and value >= 1, f"train.{key}", value, "must be an integer >= 1")
  need(isinstance(t.num_steps, int) and t.num_steps >= 0, "train.num_steps", t.num_steps,
       "must be an integer >= 0")
  need(isinstance(t.max_to_keep, int) and t.max_to_keep >= 0, "train.max_to_keep",
       t.max_to_keep, "must be an integer >= 0 (0: keep every checkpoint)")
  epochs = t.get("num_epochs", 0)
  need(isinstance(epochs, int) and epochs >= 0, "train.num_epochs", epochs,
       "must be an integer >= 0 (used when train.num_steps is 0)")
  need(t.num_steps > 0 or epochs > 0, "train.num_steps", t.num_steps,
       "is 0: give it, or train.num_epochs > 0")
  need(t.sample_fps > 0, "train.sample_fps", t.sample_fps, "must be > 0")
  formats = [f.strip() for f in str(t.video_format).split(",") if f.strip()]
  need(bool(formats) and all(f in VIDEO_FORMATS for f in formats), "train.video_format",
       t.video_format, f"a comma-separated list of {', '.join(VIDEO_FORMATS)}")
  need(t.get("on_nonfinite", "stop") in ("stop", "skip"), "train.on_nonfinite",
       t.get("on_nonfinite"), "'stop' or 'skip'")
  if t.get("wandb"):
    need(importlib.util.find_spec("wandb") is not None, "train.wandb", t.wandb,
         "Weights & Biases logging needs `pip install wandb` (or leave train.wandb empty)")
  for key in ("frames", "height", "width", "num_clips", "clip_stride", "frame_step",
              "max_sprites"):
    value = data_value(d, key) if key in DATA_DEFAULTS else d.get(key, 1)
    need(isinstance(value, int) and value >= 1, f"data.{key}", value, "must be an integer >= 1")
  num_test = d.get("num_test", 0)
  need(isinstance(num_test, int) and num_test >= 0, "data.num_test", num_test,
       "must be an integer >= 0")
  if d.get("name") in ("synthetic_scenes", "synthetic_dancer"):  # the held-out split is made
    need(num_test >= 1, "data.num_test", num_test, "the held-out split needs >= 1 clip (the "
         "training loop's samples and evaluation read it)")
    clips = d.get("num_clips", 0) + num_test
    need(clips <= MAX_SYNTHETIC_CLIPS, "data.num_clips + data.num_test", clips,
         f"a synthetic dataset is built whole before training starts: at most "
         f"{MAX_SYNTHETIC_CLIPS:,} clips")
  stripes = data_value(d, "stripes")
  need(isinstance(stripes, (int, float)) and 0 <= stripes <= 1, "data.stripes", stripes,
       "must be in [0, 1] (the stripes' amplitude on [0, 1] pixels)")
  cache_mb = data_value(d, "cache_mb")
  need(isinstance(cache_mb, (int, float)) and cache_mb >= 0, "data.cache_mb", cache_mb,
       "must be a number >= 0 (MB of training records kept in memory; 0: none)")
  workers = data_value(d, "workers")
  need(isinstance(workers, int) and workers >= 0, "data.workers", workers,
       "must be an integer >= 0 (0: read in the main process)")
  person_crop = data_value(d, "person_crop")
  need(isinstance(person_crop, (int, float)) and 0 <= person_crop <= 1, "data.person_crop",
       person_crop, "must be in [0, 1] (0: the centre crop)")
  need(not person_crop or (d.get("name") == "video_folder" and data_value(d, "with_poses")),
       "data.person_crop", person_crop, "frames the person of a video_folder with "
       "data.with_poses=True")
  fraction = data_value(d, "test_fraction")
  need(0 <= fraction < 1, "data.test_fraction", fraction, "must be in [0, 1)")
  need(math.isfinite(config.optim.learning_rate) and config.optim.learning_rate > 0,
       "optim.learning_rate", config.optim.learning_rate, "must be a finite number > 0")
  decay = config.optim.get("decay_steps", 0)
  need(isinstance(decay, int) and 0 <= decay <= t.num_steps, "optim.decay_steps", decay,
       f"must be an integer in [0, train.num_steps={t.num_steps}] (0: a constant rate)")
