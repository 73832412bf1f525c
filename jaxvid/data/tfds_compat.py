"""Build large TFDS datasets without TensorFlow.

TFDS keeps a split's examples in memory up to 1 GB while writing; past that its shuffler spills
to temporary bucket files through `tf.io.gfile`, the one TensorFlow call on the array_record
write path. When TensorFlow is not installed, `local_shuffler_files()` lends the shuffler a
stand-in for exactly the calls it makes (GFile, exists, remove, ResourceExhaustedError) backed by
local files, for the duration of a build. Local data_dirs only; with TensorFlow installed it
changes nothing.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import types

from tensorflow_datasets.core import shuffle


class _NeverRaised(Exception):
  """Stands for tf.errors.ResourceExhaustedError, which local files never raise."""


_LOCAL_TF = types.SimpleNamespace(
    io=types.SimpleNamespace(gfile=types.SimpleNamespace(
        GFile=lambda path, mode="r": open(os.fspath(path), mode),
        exists=lambda path: os.path.exists(os.fspath(path)),
        remove=lambda path: os.remove(os.fspath(path)))),
    errors=types.SimpleNamespace(ResourceExhaustedError=_NeverRaised))


@contextlib.contextmanager
def local_shuffler_files():
  if importlib.util.find_spec("tensorflow") is not None:
    yield
    return
  original = shuffle.tf
  shuffle.tf = _LOCAL_TF
  try:
    yield
  finally:
    shuffle.tf = original
