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
