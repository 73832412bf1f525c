"""Workdir paths: local folders or cloud buckets (gs://, s3://), all through etils.epath.

Orbax and tensorstore write checkpoints to either; everything else jaxvid keeps in a workdir
(config.json, metrics.jsonl, samples, TensorBoard events, eval.json, the lock) goes through
`epath.Path` here. A bucket has no append and no rename-free atomic create, so the few places
that need them (metrics.jsonl, TensorBoard events, the lock) rewrite whole objects instead.
"""
from __future__ import annotations

import os
import tempfile

from etils import epath
import numpy as np

from jaxvid.errors import UserError


def is_remote(path: str | os.PathLike) -> bool:
  """True for a URI with a scheme (gs://bucket/run), False for a local path."""
  return "://" in os.fspath(path)


def resolve(path: str | os.PathLike) -> str:
  """`~` and environment variables expanded and a local path made absolute; URIs kept as they
  are (os.path.abspath would turn gs://b/run into ./gs:/b/run)."""
  path = os.fspath(path)
  if is_remote(path):
    return path.rstrip("/")
  return os.path.abspath(os.path.expandvars(os.path.expanduser(path)))


def join(*parts: str) -> str:
  """os.path.join for local paths and URIs alike (a URI keeps its '//')."""
  return os.fspath(epath.Path(parts[0]).joinpath(*parts[1:]))


def Path(path: str | os.PathLike) -> epath.Path:  # noqa: N802 - reads like the class it returns
  return epath.Path(resolve(path))


def write_via_local_file(path: str, write) -> None:
  """Call write(local_path) and put the file at `path`: directly for a local path, through a
  temporary file and epath for a bucket (image/video writers need a real file)."""
  if not is_remote(path):
    write(path)
    return
  suffix = os.path.splitext(path)[1]
  with tempfile.TemporaryDirectory() as tmp:
    local = os.path.join(tmp, f"file{suffix}")
    write(local)
    epath.Path(path).write_bytes(epath.Path(local).read_bytes())


class WholeObjectWriter:
  """A file-like writer for a bucket object: bytes are kept and the whole object is rewritten
  on flush (what tensorboardX does for gs:// itself, through epath for any scheme)."""

  def __init__(self, path: str):
    self.path = epath.Path(path)
    self.buffer = bytearray()

  def write(self, data: bytes) -> None:
    self.buffer += data

  def flush(self) -> None:
    self.path.write_bytes(bytes(self.buffer))

  def close(self) -> None:
    self.flush()


class _EpathRecordWriterFactory:
  """tensorboardX's hook for a URI scheme (record_writer.register_writer_factory)."""

  def open(self, path):
    return WholeObjectWriter(path)

  def directory_check(self, path):
    epath.Path(path).mkdir(parents=True, exist_ok=True)


def register_tensorboard_scheme(path: str) -> None:
  """Let tensorboardX write event files under `path`'s scheme through epath."""
  if not is_remote(path):
    return
  from tensorboardX import record_writer
  scheme = os.fspath(path).split("://", 1)[0]
  record_writer.register_writer_factory(scheme, _EpathRecordWriterFactory())


def _nearest_existing(path: str) -> str:
  while not os.path.exists(path):
    parent = os.path.dirname(path)
    if parent == path:
      break
    path = parent
  return path


def check_writable_folder(folder: str, flag: str) -> None:
  """A folder that exists or can be made (its nearest existing ancestor is a writable folder)."""
  if is_remote(folder):
    return
  existing = _nearest_existing(folder)
  if not os.path.isdir(existing):
    raise UserError(f"{flag}: {existing} is a file, so {folder} cannot be a folder")
  if not os.access(existing, os.W_OK):
    raise UserError(f"{flag}: {existing} is not writable")


def check_output_file(path: str, flag: str = "--output", *, suffixes: tuple[str, ...] = (),
                      inputs: tuple[str, ...] = (), overwrite: bool = False) -> str:
  """An output file checked before any work starts, resolved: not a folder, one of `suffixes`
  (any case), not one of the command's `inputs` (never written over, --overwrite or not), not
  an existing file unless `overwrite`, in a folder that exists or can be made and is
  writable."""
  if not path:
    raise UserError(f"{flag} is empty: give a file path")
  resolved = resolve(path)
  if is_remote(resolved):
    return resolved
  if path.endswith(("/", os.sep)) or os.path.isdir(resolved):
    raise UserError(f"{flag} {resolved} is a folder: give a file path")
  if suffixes and not resolved.lower().endswith(tuple(s.lower() for s in suffixes)):
    raise UserError(f"{flag} {path}: use a {' or '.join(suffixes)} path")
  for given in inputs:
    if given and not is_remote(given) and os.path.exists(given) and os.path.exists(resolved) \
        and os.path.samefile(resolved, resolve(given)):
      raise UserError(f"{flag} {resolved} is one of this command's inputs: writing it would "
                      f"destroy it; choose another name")
  if os.path.exists(resolved) and not overwrite:
    raise UserError(f"{flag} {resolved} exists: choose another name or pass --overwrite")
  check_writable_folder(os.path.dirname(resolved), flag)
  return resolved


def input_files(*given: str) -> tuple[str, ...]:
  """The files a command reads, resolved, for check_output_file's `inputs`: each given path
  ('' and the built-in dancer:N left out) and the video a jaxvid.extract .npz names as its
  `source` (its poses came from it: writing over it loses the user's video too)."""
  found = []
  for path in given:
    if not path or path.startswith("dancer:"):
      continue
    found.append(resolve(path))
    if found[-1].lower().endswith(".npz") and os.path.isfile(found[-1]):
      try:
        with np.load(found[-1]) as f:  # allow_pickle stays False: nothing in it runs
          if "source" in f.files:
            found.append(resolve(str(f["source"])))
      except (OSError, ValueError):
        pass  # unreadable: the command's reader says so
  return tuple(found)


def partial_name(path: str) -> str:
  """Where an output is written until it is complete (renamed to `path` at the end), so an
  interrupted command leaves no file that looks finished: a.mp4 -> a.partial.mp4."""
  root, ext = os.path.splitext(path)
  return f"{root}.partial{ext}"
