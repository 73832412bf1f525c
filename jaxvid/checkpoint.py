"""Orbax checkpoints of the train state, the data iterator state and what made them.

Each step directory holds three items: 'state' (the train-state pytree), 'data' (the iterator
state, JSON) and 'meta' (model name + architecture, JSON). Orbax writes asynchronously into a
temporary directory and renames it when complete, so a crash mid-write never leaves a
checkpoint that `latest_step()` would pick.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time

import grain
import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxvid import paths
from jaxvid.errors import UserError, WRITE_FAILURE_TEXTS, write_failure

logger = logging.getLogger(__name__)


class DamagedCheckpoint(Exception):
  """A checkpoint that cannot be read back (truncated, half-deleted, garbage metadata)."""


class StateMismatch(UserError):
  """A readable checkpoint whose state has other arrays (or shapes) than this config's: a changed
  option that adds or reshapes state (an EMA of G, minibatch std, ...), not damage."""


def _key_name(key) -> str:
  for attr in ("name", "key", "idx"):
    if hasattr(key, attr):
      return str(getattr(key, attr))
  return str(key)


def leaf_shapes(tree) -> dict[str, tuple]:
  """'a.b.c' path -> shape of every array of a state pytree or of orbax's tree metadata (the
  same dotted names for both: dataclass fields, dict keys and tuple indices)."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {".".join(_key_name(k) for k in path): tuple(leaf.shape) for path, leaf in leaves}


def describe_differences(stored: dict, ours: dict) -> str:
  """What differs between two leaf_shapes maps, grouped by the state's top-level field."""
  def grouped(names):
    counts: dict[str, int] = {}
    for name in names:
      counts[name.split(".")[0]] = counts.get(name.split(".")[0], 0) + 1
    return ", ".join(f"{k} ({n} arrays)" for k, n in sorted(counts.items()))
  parts = []
  if only := sorted(set(stored) - set(ours)):
    parts.append(f"only in the checkpoint: {grouped(only)}")
  if only := sorted(set(ours) - set(stored)):
    parts.append(f"only in this config's state: {grouped(only)}")
  if reshaped := sorted(k for k in set(stored) & set(ours) if stored[k] != ours[k]):
    parts.append("other shapes: " + ", ".join(f"{k} {stored[k]} vs {ours[k]}"
                                               for k in reshaped[:3])
                 + (f" and {len(reshaped) - 3} more" if len(reshaped) > 3 else ""))
  return "; ".join(parts)


def config_differences(old, new) -> list[str]:
  """'key: old -> new' for every dotted config key whose value differs (JSON forms compared)."""
  def flat(node, prefix=""):
    out = {}
    for key, value in node.items():
      if isinstance(value, dict):
        out.update(flat(value, f"{prefix}{key}."))
      else:
        out[f"{prefix}{key}"] = value
    return out
  a = flat(json.loads(old.to_json_best_effort()))
  b = flat(json.loads(new.to_json_best_effort()))
  return [f"{k}: {a.get(k, '(absent)')} -> {b.get(k, '(absent)')}"
          for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def not_a_write_failure(record) -> bool:
  """A logging filter: False for the records orbax's threads log about a failed write."""
  error = record.exc_info[1] if record.exc_info else None
  if error is not None:
    return write_failure(error) is None
  message = record.getMessage()
  return not any(c in message for c in WRITE_FAILURE_TEXTS)


class CheckpointWriteError(UserError):
  """A checkpoint could not be written (disk full, quota, permissions); earlier ones are intact."""


class _GrainCheckpointable:
  """A jaxvid data iterator as grain's checkpoint handler sees one: its state as bytes."""

  def __init__(self, data_iter):
    self._data_iter = data_iter

  def get_state(self) -> bytes:
    return json.dumps(self._data_iter.get_state()).encode()

  def set_state(self, state: bytes) -> None:
    self._data_iter.set_state(json.loads(state))

  def start_prefetch(self) -> None:  # grain calls it after a restore; ours reads on demand
    pass


def _legacy_host_states(item) -> list[str]:
  """Each host's state (JSON text) from the data item of checkpoints written before grain's
  handler: one JSON of every host's ({"hosts": [...]}), or of the only host's before that."""
  try:
    legacy = json.loads((item / "metadata").read_text())
  except (OSError, ValueError) as e:
    raise DamagedCheckpoint(f"data position: {_reason(e)}") from e
  return legacy.get("hosts", [json.dumps(legacy)])


@contextlib.contextmanager
def _without_read_only_notice():
  """Orbax warns 'Given directory is read only' for every reader it opens: a line on every
  jaxvid.load in the CLIs' output, saying nothing the user needs."""
  notice = lambda record: "Given directory is read only" not in record.getMessage()
  absl_logger = logging.getLogger("absl")
  absl_logger.addFilter(notice)
  try:
    yield
  finally:
    absl_logger.removeFilter(notice)


class Checkpointer:

  def __init__(self, directory: str, max_to_keep: int, metadata: dict, read_only: bool = False):
    """`read_only`: a reader (jaxvid.load, evaluate) beside a training that may be writing the
    same folder: it creates, cleans, deletes and renames nothing, so a save in progress (its
    temporary directory) and the trainer's old checkpoints are left to the trainer."""
    self.directory = paths.resolve(directory)  # a local folder or a bucket URI
    self.metadata = metadata
    self.read_only = read_only
    # 0 keeps every checkpoint (orbax's max_to_keep=0 would delete them all, the last one too)
    # cleanup_tmp_directories: a save cut short (a kill, a full disk) leaves no temporary
    # directory behind once the next training run opens the workdir
    options = ocp.CheckpointManagerOptions(
        max_to_keep=None if read_only else (max_to_keep or None),
        save_interval_steps=0 if read_only else 1, create=not read_only, read_only=read_only,
        cleanup_tmp_directories=not read_only, enable_async_checkpointing=not read_only)
    with _without_read_only_notice():
      self._manager = ocp.CheckpointManager(self.directory, options=options,
                                            item_names=("state", "data", "meta"))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state, data_iter=None) -> None:
    """Starts writing `step` (orbax finishes in the background): the state, and each host's
    position of `data_iter` through grain's own checkpoint handler (one JSON file per process,
    `data/process_<i>-of-<n>.json`). A failed write, this one's or the previous one's (which
    orbax waits for first), is a CheckpointWriteError."""
    self.wait_until_finished()
    self._pending = step
    items = {"state": ocp.args.StandardSave(state), "meta": ocp.args.JsonSave(self.metadata)}
    if data_iter is not None:
      items["data"] = grain.checkpoint.CheckpointSave(_GrainCheckpointable(data_iter))
    with self._write_errors():
      self._manager.save(step, args=ocp.args.Composite(**items))

  _pending: int | None = None  # the step being written in the background

  @contextlib.contextmanager
  def _write_errors(self):
    try:
      yield
    except Exception as e:  # noqa: BLE001 - orbax raises ValueError, OSError, RuntimeError here
      cause = write_failure(e)
      if cause is None:
        raise
      step, self._pending = self._pending, None
      if step is not None:  # free what the cut-short save took; orbax never renames it now
        partial = paths.Path(paths.join(self.directory, f"{step}.orbax-checkpoint-tmp"))
        try:
          partial.rmtree()
        except OSError:
          pass
      which = f"of step {step} " if step is not None else ""
      advice = ("free space and rerun to resume" if "space" in cause or "quota" in cause
                else "rerun to resume once the folder takes it")
      raise CheckpointWriteError(
          f"cannot write the checkpoint {which}in {self.directory}: {cause}; earlier "
          f"checkpoints are intact, {advice}") from e

  def check_compatible(self, step: int) -> None:
    """Clear error if the checkpoint was written by another model or architecture."""
    try:
      stored = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
      stored = stored["meta"]
    except Exception as e:  # noqa: BLE001 - orbax/tensorstore raise many kinds here
      raise DamagedCheckpoint(f"no readable 'meta' item ({_reason(e)})") from e
    if not isinstance(stored, dict):
      raise DamagedCheckpoint(f"its 'meta' item is not a jaxvid record: {stored!r:.60}")
    if stored.get("model") != self.metadata["model"]:
      raise UserError(f"checkpoint {self.directory} (step {step}) was written by model "
                      f"{stored.get('model')!r}; this config trains {self.metadata['model']!r}. "
                      f"Use another --workdir.")
    ours, theirs = self.metadata.get("architecture"), stored.get("architecture")
    if ours != theirs:
      diff = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
      detail = ", ".join(f"{k}: checkpoint {theirs.get(k)} vs config {ours.get(k)}" for k in diff)
      raise UserError(f"checkpoint {self.directory} (step {step}) has another architecture "
                      f"({detail}). Use another --workdir or the checkpoint's config.")

  def restore(self, step: int, abstract_state, data_iter=None):
    """The state of `step` (`abstract_state` gives shapes, dtypes and shardings), and this
    host's data position set on `data_iter` when given. DamagedCheckpoint if it cannot be read;
    UserError if it is another model's or was written by another number of hosts."""
    self.check_compatible(step)
    try:
      state = self._manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract_state)))["state"]
    except Exception as e:  # noqa: BLE001 - orbax/tensorstore raise many kinds here
      differences = self._state_differences(step, abstract_state)
      if differences:
        raise StateMismatch(
            f"checkpoint {self.directory} (step {step}) holds another training state than this "
            f"config makes ({differences})") from e
      raise DamagedCheckpoint(_reason(e)) from e
    if data_iter is not None:
      self._restore_data(step, data_iter)
    return state

  def _state_differences(self, step: int, abstract_state) -> str:
    """How the checkpoint's state tree differs from `abstract_state`'s ('' when the same or
    when its metadata cannot be read: then the checkpoint is damaged)."""
    try:
      stored = ocp.StandardCheckpointHandler().metadata(
          paths.Path(paths.join(self.directory, str(step), "state")))
      stored = leaf_shapes(getattr(stored, "tree", stored))
    except Exception:  # noqa: BLE001 - unreadable metadata: damage, reported by the caller
      return ""
    return describe_differences(stored, leaf_shapes(abstract_state))

  def data_states(self, step: int) -> list[dict]:
    """Every host's saved data position at `step`, in process order (for inspection)."""
    item = paths.Path(paths.join(self.directory, str(step), "data"))
    files = sorted(item.glob("process_*-of-*.json"),
                   key=lambda f: int(f.name.split("_")[1].split("-")[0]))
    texts = [f.read_text() for f in files] if files else _legacy_host_states(item)
    return [json.loads(t) for t in texts]

  def _restore_data(self, step: int, data_iter) -> None:
    item = paths.Path(paths.join(self.directory, str(step), "data"))
    if not item.exists():  # e.g. a converted model: no data position, start from the beginning
      return
    per_host = list(item.glob("process_*-of-*.json"))
    legacy = None if per_host else _legacy_host_states(item)  # before grain's handler was used
    hosts = legacy if legacy is not None else per_host
    ours = item / f"process_{jax.process_index()}-of-{jax.process_count()}.json"
    if len(hosts) != jax.process_count() or not (legacy is not None or ours.exists()):
      raise UserError(f"the checkpoint was written by {len(hosts)} hosts; this run has "
                      f"{jax.process_count()} (the data positions cannot be split differently)")
    if legacy is not None:
      data_iter.set_state(json.loads(legacy[jax.process_index()]))
      return
    try:
      self._manager.restore(step, args=ocp.args.Composite(
          data=grain.checkpoint.CheckpointRestore(_GrainCheckpointable(data_iter))))
    except UserError:
      raise
    except Exception as e:  # noqa: BLE001 - a damaged position file
      raise DamagedCheckpoint(f"data position: {_reason(e)}") from e

  def restore_newest(self, abstract_state, steps=None, set_aside: bool = True, data_iter=None):
    """(step, state) of the newest checkpoint (of `steps`, default all) that reads back, or
    (None, None); its data position is set on `data_iter` when given. A damaged newer one is
    reported and, for training (`set_aside`), renamed `<step>.damaged`: never deleted, and out
    of the way of the step numbers training will write again; inference leaves the workdir as
    it is."""
    tried: set[int] = set()
    while True:
      candidates = sorted(set(self.all_steps() if steps is None else steps) - tried)
      if not candidates:
        return None, None
      step = candidates[-1]
      tried.add(step)
      try:
        return step, self.restore(step, abstract_state, data_iter)
      except DamagedCheckpoint as e:
        if not paths.Path(paths.join(self.directory, str(step))).exists():
          # a training beside this reader deleted it (max_to_keep) while it was read: not
          # damage; the newest checkpoint now may be one written since
          self._manager.reload()
          continue
        set_aside = set_aside and not self.read_only
        kept = f"; kept as {self._set_aside(step)}" if set_aside else ""
        logger.info(f"skipped the damaged checkpoint of step {step} ({e}){kept}")

  def _set_aside(self, step: int) -> str:
    source = paths.join(self.directory, str(step))
    target, n = f"{source}.damaged", 1
    while paths.Path(target).exists():
      target, n = f"{source}.damaged{n}", n + 1
    paths.Path(source).rename(target)
    self._manager.reload()
    return target

  def reached_preemption(self, step: int) -> bool:
    """Several processes: True at the step every host agreed to save after a preemption notice
    (SIGTERM) reached any of them (orbax / JAX's preemption service; call it every step)."""
    return self._manager.reached_preemption(step)

  def wait_until_finished(self) -> None:
    with self._write_errors():
      self._manager.wait_until_finished()
      self._pending = None

  def close(self) -> None:
    try:
      self.wait_until_finished()
    except CheckpointWriteError:
      with contextlib.suppress(Exception):  # the failed write is what to report, not its echo
        self._manager.close()
      raise
    self._manager.close()


def _reason(error: Exception) -> str:
  lines = str(error).strip().splitlines()
  return f"{type(error).__name__}: {lines[0][:200] if lines else ''}"


def abstract_like(state, sharding):
  """ShapeDtypeStructs of `state` placed with `sharding`, the target of a restore."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), state)


def dump_config(path: str, config) -> None:
  with paths.Path(path).open("w") as f:
    json.dump(json.loads(config.to_json_best_effort()), f, indent=2, sort_keys=True)


def load_config(workdir: str):
  """The resolved config a training run wrote to `workdir/config.json`."""
  import ml_collections  # lazy: the CLIs import this module before flags are parsed
  workdir = paths.resolve(workdir)
  path = paths.join(workdir, "config.json")
  if not paths.Path(path).exists():
    raise UserError(f"{workdir} has no config.json: not a jaxvid workdir (train into it with "
                    f"python -m jaxvid.main --config=... --workdir={workdir})")
  return ml_collections.ConfigDict(read_json(path, "workdir's config"))


def load_latest(trainer, workdir: str, sharding=None, step: int | None = None) -> tuple[int, object]:
  """(step, train state) of the newest complete checkpoint in `workdir` (or of `step`), for
  inference."""
  workdir = paths.resolve(workdir)
  directory = paths.join(workdir, "checkpoints")
  if not paths.Path(directory).is_dir():
    raise UserError(f"{workdir} has no checkpoints/ directory: nothing to load")
  sharding = sharding or jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = jax.eval_shape(trainer.init_state, jax.random.key(0))
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                          abstract)
  for attempt in range(_READ_TRIES):
    try:
      return _read_newest(directory, trainer, abstract, step)
    except FileNotFoundError:
      # a training beside this reader deleted a checkpoint (max_to_keep) while it was listed or
      # read: look again, the newest one now is complete
      if attempt == _READ_TRIES - 1:
        raise UserError(f"{directory}: its checkpoints kept changing while they were read "
                        f"({_READ_TRIES} tries); try again") from None
      time.sleep(0.2)


_READ_TRIES = 10


def _read_newest(directory: str, trainer, abstract, step: int | None):
  checkpointer = Checkpointer(directory, 1_000_000, trainer.metadata(), read_only=True)
  try:
    steps = checkpointer.all_steps()
    if not steps:
      raise UserError(f"{directory} holds no complete checkpoint")
    if step is not None and step not in steps:
      raise UserError(f"{directory} has no checkpoint of step {step}; it has "
                      f"{', '.join(map(str, steps))}")
    found, state = checkpointer.restore_newest(
        abstract, steps=None if step is None else [step], set_aside=False)
    if found is None:
      raise UserError(f"{directory}: no checkpoint could be read back"
                      + (f" at step {step}" if step is not None else ""))
    return found, state
  finally:
    checkpointer.close()


def copy_params(state, source, fields=None) -> tuple[object, list[str]]:
  """`state` with the parameters of `source` (another run's state): each field named in
  `fields`, by default every field ending in 'params' or 'batch_stats' that both states hold.
  Step, key and optimizer states stay `state`'s (a fresh start). Arrays take `state`'s
  sharding. A field whose tree or shapes differ is a UserError naming it."""
  names = fields or [f.name for f in dataclasses.fields(state)
                     if f.name.endswith(("params", "batch_stats"))]
  copied = {}
  for name in names:
    ours, theirs = getattr(state, name, None), getattr(source, name, None)
    if ours is None or theirs is None:
      continue
    if (jax.tree.structure(ours) != jax.tree.structure(theirs)
        or [x.shape for x in jax.tree.leaves(ours)] != [x.shape for x in jax.tree.leaves(theirs)]):
      raise UserError(f"{name}: the source run's parameters have another structure or shapes "
                      f"than this config's (another architecture)")
    copied[name] = jax.tree.map(lambda new, like: jax.device_put(new, like.sharding), theirs, ours)
  return state.replace(**copied), sorted(copied)


# ----- exports: the generator's parameters alone, for inference -----
EXPORT_FILE = "export.json"
TARGET_POSES_FILE = "target_keypoints.npy"


def is_export(directory: str) -> bool:
  return paths.Path(paths.join(directory, EXPORT_FILE)).exists()


def inference_fields(state) -> list[str]:
  """The state's fields sampling needs: no optimizer state and no discriminator."""
  return [f.name for f in dataclasses.fields(state)
          if not f.name.endswith("opt_state") and not f.name.startswith(("d_", "face_d_"))]


def read_json(path: str, what: str):
  """A JSON file of a workdir or export; a one-line error naming the file if it is not JSON."""
  try:
    return json.loads(paths.Path(path).read_text())
  except ValueError as e:
    raise UserError(f"{path} is not readable JSON ({e}): is the {what} damaged?") from e


def save_export(out: str, state, step: int, config, metadata: dict, source: str,
                target_poses=None) -> None:
  """Write an export into the (new or empty) directory `out`: the inference fields of `state`
  (orbax), config.json, export.json (model, step, fields, architecture, where it came from)
  and, for EDN, the target's training poses."""
  target = paths.Path(out)
  fields = inference_fields(state)
  target.mkdir(parents=True, exist_ok=True)
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(paths.join(out, "inference"), {name: getattr(state, name) for name in fields})
  checkpointer.wait_until_finished()
  dump_config(paths.join(out, "config.json"), config)
  if target_poses is not None:
    with (target / TARGET_POSES_FILE).open("wb") as f:
      np.save(f, target_poses)
  (target / EXPORT_FILE).write_text(json.dumps(
      {"model": config.model, "step": int(step), "fields": fields, "metadata": metadata,
       "from": source}, indent=2))


def restore_export(directory: str, trainer, step: int | None = None):
  """(step, state, target poses or None) of an export: the state has the exported fields and
  None for the rest (optimizer states, discriminators)."""
  info = read_json(paths.join(directory, EXPORT_FILE), "export")
  if step is not None and step != info["step"]:
    raise UserError(f"{directory} is an export of step {info['step']}, not {step}")
  if info.get("metadata") != trainer.metadata():
    raise UserError(f"{directory}: its model record {info.get('metadata')} does not match what "
                    f"its config builds ({trainer.metadata()})")
  abstract = jax.eval_shape(trainer.init_state, jax.random.key(0))
  wanted = {name: getattr(abstract, name) for name in info["fields"]}
  try:
    restored = ocp.StandardCheckpointer().restore(paths.join(directory, "inference"), wanted)
  except Exception as e:  # noqa: BLE001 - orbax/tensorstore raise many kinds here
    raise UserError(f"{directory}: cannot read the exported parameters ({_reason(e)})") from e
  state = abstract.replace(**{f.name: restored.get(f.name) for f in dataclasses.fields(abstract)})
  poses = None
  target = paths.Path(paths.join(directory, TARGET_POSES_FILE))
  if target.exists():
    with target.open("rb") as f:
      poses = np.load(f)
  return int(info["step"]), state, poses
