"""One grain pipeline over `tfds.data_source` for every dataset.

TFDS builder (jaxvid/data/builders.py, array_record) -> `as_data_source(split)` -> grain
`IndexSampler` (per-host shard by process index, deterministic shuffle from the seed, endless
epochs) -> uint8 video to float32 [-1, 1] -> batches of host-local numpy arrays.

The iterator's state (grain's own JSON state) goes into the training checkpoint, so a resumed
run sees exactly the batches an uninterrupted run would have seen.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from typing import Any

import grain.python as grain
import numpy as np
import tensorflow_datasets as tfds

from jaxvid import config_defaults
from jaxvid.data import builders, tfds_compat
from jaxvid.errors import UserError, write_failure

logger = logging.getLogger(__name__)


def make_builder(data_config) -> tfds.core.DatasetBuilder:
  """The TFDS builder named by `config.data`, with its sizes as the builder config."""
  d = data_config
  if d.name not in builders.BUILDERS:
    raise UserError(f"unknown dataset config.data.name={d.name!r}; available: "
                    f"{', '.join(sorted(builders.BUILDERS))}")
  value = lambda key: config_defaults.data_value(d, key)
  if value("branching") and d.name != "synthetic_dancer":
    raise UserError(f"config.data.branching=True is a synthetic_dancer option; got "
                    f"config.data.name={d.name!r}")
  if value("branch_step_frames") < 1:
    raise UserError(f"config.data.branch_step_frames must be >= 1, got "
                    f"{value('branch_step_frames')}")
  clip_config = builders.ClipConfig(
      frames=d.frames, height=d.height, width=d.width, num_train=d.num_clips,
      num_test=d.num_test, seed=d.seed, max_sprites=value("max_sprites"),
      stripes=value("stripes"),
      clip_stride=value("clip_stride"), frame_step=value("frame_step"),
      stabilize=value("stabilize"), split_shots=value("split_shots"),
      labels=value("labels"), split_list=os.path.expanduser(value("split_list")),
      scene_per_subject=value("scene_per_subject"),
      with_poses=value("with_poses"), branching=value("branching"),
      branch_step_frames=value("branch_step_frames"), person_crop=value("person_crop"),
      person=value("person"), pose_layout=value("pose_layout"),
      test_fraction=value("test_fraction"), source_digest=_source_digest(d))
  data_dir = os.path.expanduser(d.data_dir) if value("data_dir") else None
  return builders.BUILDERS[d.name](config=clip_config, data_dir=data_dir,
                                   file_format="array_record")


def _source_digest(d) -> str:
  """video_folder: the folder's identity goes into the dataset's name (see folder_digest)."""
  if d.name != "video_folder" or not config_defaults.data_value(d, "manual_dir"):
    return ""
  from jaxvid.data.video_folder import folder_digest
  folder = os.path.expanduser(d.manual_dir)
  return folder_digest(folder) if os.path.isdir(folder) else ""


def _check_writable(data_dir: str, data_config) -> None:
  """The dataset must be built: its data_dir has to take files (not read-only, not a file)."""
  root = str(data_dir)
  while not os.path.exists(root) and os.path.dirname(root) != root:
    root = os.path.dirname(root)  # the deepest existing folder is what must be writable
  if not os.path.isdir(root) or not os.access(root, os.W_OK):
    where = config_defaults.data_value(data_config, "data_dir") or "~/tensorflow_datasets"
    raise UserError(f"dataset {data_config.name!r} is not built yet and config.data.data_dir "
                    f"({where}) cannot take it: "
                    f"{root} is {'not a folder' if not os.path.isdir(root) else 'read-only'}")


def _remove_incomplete(data_dir: str) -> None:
  """TFDS builds into an `incomplete.*` folder beside the version's: a build cut short by a
  failed write leaves it, and the space it holds."""
  import shutil
  parent = os.path.dirname(str(data_dir).rstrip("/"))
  for name in os.listdir(parent) if os.path.isdir(parent) else []:
    if name.startswith("incomplete."):
      shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def dataset_features(data_config) -> frozenset[str]:
  """What each clip of the configured dataset holds (before it is built)."""
  if config_defaults.data_value(data_config, "labels"):
    return frozenset({"video", "label"})
  if data_config.name == "synthetic_dancer":
    return frozenset({"video", "keypoints", "face_box", "subject"})
  if data_config.name == "video_folder" and config_defaults.data_value(data_config, "with_poses"):
    return frozenset({"video", "keypoints", "face_box"})
  return frozenset({"video"})


def require_features(data_config, features, model: str) -> None:
  """Clear error unless the dataset holds every feature `model` trains on."""
  missing = sorted(set(features) - dataset_features(data_config))
  if missing == ["label"]:
    raise UserError(f"{model} needs labelled clips: config.data.labels='direction' with "
                    f"synthetic_scenes, or 'folder' with video_folder (one sub-folder per "
                    f"class); got config.data.name={data_config.name!r}, labels="
                    f"{config_defaults.data_value(data_config, 'labels')!r}")
  if missing:
    raise UserError(f"{model} needs a dataset with {', '.join(missing)}: synthetic_dancer, or "
                    f"video_folder with config.data.with_poses=True; got "
                    f"config.data.name={data_config.name!r}")


def prepare(data_config) -> tfds.core.DatasetBuilder:
  """Build the dataset if it is not in data_dir yet (synthetic: made locally; folders: from
  manual_dir) and return the builder."""
  builder = make_builder(data_config)
  if not builder.is_prepared():
    manual_dir = config_defaults.data_value(data_config, "manual_dir")
    if builder.MANUAL_DOWNLOAD_INSTRUCTIONS and not manual_dir:
      raise UserError(f"dataset {data_config.name!r} needs config.data.manual_dir: "
                      f"{builder.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    if manual_dir and not os.path.isdir(os.path.expanduser(manual_dir)):
      raise UserError(f"config.data.manual_dir={manual_dir} is not a directory")
    _check_writable(builder.data_dir, data_config)
    logger.info(f"preparing dataset {data_config.name}/{builder.builder_config.name} in "
          f"{builder.data_dir} ...")
    download_config = tfds.download.DownloadConfig(
        manual_dir=os.path.expanduser(manual_dir) if manual_dir else None)
    try:
      with tfds_compat.local_shuffler_files():
        builder.download_and_prepare(download_config=download_config)
    except FileNotFoundError as e:
      raise UserError(str(e)) from e
    except AssertionError as e:  # TFDS: "No examples were yielded" for an empty split
      detail = builder.summary() if hasattr(builder, "summary") else ""
      raise UserError(f"dataset {data_config.name!r} produced an empty split ({e}). "
                      f"{detail}") from e
    except Exception as e:  # noqa: BLE001 - TFDS and array_record raise RuntimeError, OSError
      cause = write_failure(e)
      if cause is None:
        raise
      _remove_incomplete(builder.data_dir)
      raise UserError(f"cannot build dataset {data_config.name!r} in {builder.data_dir}: "
                      f"{cause}; the partial build is removed; free space (or set "
                      f"--config.data.data_dir elsewhere) and rerun") from e
    if hasattr(builder, "summary"):
      logger.info(f"dataset {data_config.name}: {builder.summary()}")
  return builder


_watching = None  # the main process a grain worker watches (set once per worker process)


def _exit_with(main_pid: int, every_s: float = 1.0) -> None:
  """In a grain worker: a daemon thread ends this process once the main process is gone. A
  SIGKILLed training run otherwise leaves its workers (and multiprocessing's resource tracker,
  which waits for them) running, re-parented to init; grain 0.2 has no worker hook, so the
  first record a worker maps starts the watch."""
  global _watching
  if _watching == main_pid or os.getpid() == main_pid:
    return
  _watching = main_pid

  def watch():
    while True:
      time.sleep(every_s)
      try:
        os.kill(main_pid, 0)
      except ProcessLookupError:
        os._exit(0)
      except PermissionError:  # alive, another user's: cannot be ours
        pass

  threading.Thread(target=watch, name="jaxvid-main-watch", daemon=True).start()


class ToModel(grain.MapTransform):
  """uint8 video -> float32 [-1, 1]; drops text fields (they cannot go to the device). In a
  worker process it also watches the main process (`_exit_with`)."""

  def __init__(self):
    self.main_pid = os.getpid()

  def map(self, record: dict) -> dict:
    _exit_with(self.main_pid)
    out = {}
    for key, value in record.items():
      value = np.asarray(value)
      if value.dtype.kind in "SUO":
        continue
      out[key] = value.astype(np.float32) / 127.5 - 1.0 if key == "video" else value
    return out


# The default repr of a jaxvid source class, as checkpoints before issue 44 recorded it.
_ADDRESS_REPR = re.compile(r"<jaxvid\.data\.pipeline\.\w+ object at 0x[0-9a-fA-F]+>")


class GrainIterator:
  """Endless iterator of host-local batches with JSON-serialisable state."""

  def __init__(self, source, global_batch: int, seed: int, process_index: int = 0,
               process_count: int = 1, worker_count: int = 0):
    if global_batch % process_count:
      raise UserError(f"batch size {global_batch} is not divisible by the {process_count} hosts")
    local_batch = global_batch // process_count
    if worker_count > 0:
      from absl import flags
      if not flags.FLAGS.is_parsed():  # grain's workers read absl flags (notebooks, tests)
        flags.FLAGS.mark_as_parsed()
    if len(source) < local_batch * process_count:
      raise UserError(f"the dataset has {len(source)} clips, fewer than one global batch "
                      f"({global_batch})")
    sampler = grain.IndexSampler(
        num_records=len(source), shuffle=True, seed=seed, num_epochs=None,
        shard_options=grain.ShardOptions(shard_index=process_index, shard_count=process_count,
                                         drop_remainder=True))
    self._source_identity, self._worker_count = repr(source), worker_count
    self._loader = grain.DataLoader(
        data_source=source, sampler=sampler, worker_count=worker_count,
        operations=[ToModel(), grain.Batch(local_batch, drop_remainder=True)])
    self._iterator = iter(self._loader)

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    return next(self._iterator)

  def get_state(self) -> dict[str, Any]:
    return {"grain": self._iterator.get_state().decode()}

  def set_state(self, state: dict[str, Any]) -> None:
    try:
      grain_state = json.loads(state["grain"])
      saved_workers = grain_state.get("worker_count", self._worker_count)
      if saved_workers != self._worker_count:
        raise UserError(
            f"the checkpoint was written with config.data.workers={saved_workers}; this run "
            f"has {self._worker_count}: grain's workers each batch their own share of the "
            f"clips, so another worker count gives other batches and the data order cannot "
            f"go on exactly. Rerun with --config.data.workers={saved_workers}, or with "
            f"--config.train.fresh_data_iterator=True to start the data order afresh")
      if _ADDRESS_REPR.fullmatch(str(grain_state.get("data_source", ""))):
        # written before every source had a stable repr (an object's address, different in
        # every process): it identified nothing, and the sampler's record count still checks
        grain_state["data_source"] = self._source_identity
      self._iterator.set_state(json.dumps(grain_state, indent=4).encode())
    except (KeyError, ValueError) as e:
      first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
      raise UserError(f"the checkpoint's data position does not fit this dataset "
                      f"({first_line}): the training data changed since it was written "
                      f"(videos added to or removed from the folder, or another config.data). "
                      f"To continue this run on the data as it is now, rerun with "
                      f"--config.train.fresh_data_iterator=True (model, optimizer and step "
                      f"resume, the data order starts afresh); or start a new run from its "
                      f"weights with --config.train.init_from=WORKDIR") from e

  def close(self) -> None:
    pass


class SubjectSource:
  """The records of one subject (`subject_id` field) of a data source, in their order."""

  def __init__(self, source, subject: int, subject_ids: list[int]):
    self._source = source
    self._subject = subject
    self._indices = [i for i, s in enumerate(subject_ids) if s == subject]

  def __repr__(self):  # grain compares it on restore: the same in every process (no address)
    return f"SubjectSource({self._source!r}, subject={self._subject}, records={len(self)})"

  def __len__(self) -> int:
    return len(self._indices)

  def __getitem__(self, index: int):
    return self._source[self._indices[index]]


def _subject_ids(builder, split: str, source, subject: int) -> list[int]:
  """Every record's subject id. Reading them means decoding whole records (videos), so they
  are read once per built dataset and kept beside it (datasets never change once built)."""
  path = os.path.join(builder.data_dir, f"subject_ids-{split}.json")
  if os.path.exists(path):
    with open(path) as f:
      ids = json.load(f)
    if len(ids) == len(source):
      return ids
  if len(source) and "subject_id" not in source[0]:
    raise UserError(f"config.data.subject={subject} needs a dataset with subject ids "
                    f"(synthetic_dancer)")
  ids = [int(source[i]["subject_id"]) for i in range(len(source))]
  tmp = f"{path}.tmp{os.getpid()}"
  try:
    with open(tmp, "w") as f:
      json.dump(ids, f)
    os.replace(tmp, path)  # atomic: other hosts or readers never see a partial file
  except OSError:  # a read-only dataset directory: just do not cache
    pass
  return ids


def data_source(config, split: str):
  """The split's records, only those of config.data.subject when it is >= 0."""
  builder = prepare(config.data)
  source = builder.as_data_source(split=split)
  subject = config_defaults.data_value(config.data, "subject")
  if subject < 0:
    return source
  return SubjectSource(source, subject, _subject_ids(builder, split, source, subject))


class CachedSource:
  """A data source that keeps each record it reads, while the kept records fit in a budget.

  TFDS stores a uint8 tensor as a protobuf int64 list, and turning that list back into numpy
  costs ~2.5 ms per 16x32x32 clip (`example_parser._feature_to_numpy`): 8 clips a step took
  ~14 % of the VGAN demo's CPU step from the two cores the step runs on. The demo reads its
  4,096 clips (200 MB) ~9 times, so from the second epoch on they come from memory. Records
  past the budget are read each time, as without the cache. The records are the source's own
  (downstream transforms copy before they change anything: ToModel)."""

  def __init__(self, source, budget_bytes: int):
    self._source = source
    self._budget = budget_bytes
    self._kept: dict[int, dict] = {}
    self._bytes = 0

  def __len__(self) -> int:
    return len(self._source)

  def __repr__(self):  # grain compares the source's repr when a checkpoint's state is restored
    return repr(self._source)

  def __getitem__(self, index: int):
    record = self._kept.get(index)
    if record is None:
      record = self._source[index]
      size = sum(np.asarray(v).nbytes for v in record.values())
      if self._bytes + size <= self._budget:
        self._kept[index] = record
        self._bytes += size
    return record


def make_train_iterator(config, process_index: int = 0, process_count: int = 1) -> GrainIterator:
  source = data_source(config, "train")
  workers = config_defaults.data_value(config.data, "workers")
  cache_mb = config_defaults.data_value(config.data, "cache_mb")
  if cache_mb > 0 and workers == 0:  # with workers each process would hold its own copy
    source = CachedSource(source, int(cache_mb * 2**20))
  return GrainIterator(source, config.train.batch_size, config.data.seed, process_index,
                       process_count, worker_count=workers)


def held_out_source(config):
  """The test split, or the train split where a dataset has none (a folder of videos too short
  to hold a clip out; its build summary says so)."""
  builder = prepare(config.data)
  split = "test" if "test" in builder.info.splits else "train"
  source = data_source(config, split)
  return source if len(source) or split == "train" else data_source(config, "train")


def test_source(config):
  """The held-out (test split) clips, for evaluation: a UserError where the dataset holds none,
  since scoring the training clips as held-out flatters every number."""
  builder = prepare(config.data)
  source = data_source(config, "test") if "test" in builder.info.splits else []
  if not len(source):
    raise UserError(
        f"dataset {config.data.name!r} holds no held-out clips (config.data.test_fraction="
        f"{config_defaults.data_value(config.data, 'test_fraction')}, or videos too short to "
        f"hold a clip out: its build summary says which): the model trained on every clip, so "
        f"none can measure it. Train with clips held out (--config.data.test_fraction=0.1, or "
        f"more or longer videos)")
  return source


def make_sample_batch(config, num: int, held_out_only: bool = False) -> dict[str, np.ndarray]:
  """The first `num` held-out (test split) clips, float32 video in [-1, 1]; repeated when the
  split has fewer (the training loop's sample figure; evaluate refuses that). Training clips
  where the dataset holds none, unless `held_out_only` (evaluation: test_source's error)."""
  source = test_source(config) if held_out_only else held_out_source(config)
  transform = ToModel()
  records = [transform.map(source[i % len(source)]) for i in range(num)]
  return {k: np.stack([r[k] for r in records]) for k in records[0]}
