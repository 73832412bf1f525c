"""Read a user's local TFDS-prepared copy (TFRecord files) of a video dataset without TensorFlow.

TFDS writes `<name>-<split>.tfrecord-NNNNN-of-MMMMM` files of serialized `tf.train.Example`s; a
`tfds.features.Video` is stored as a bytes list of encoded frames (PNG by default, JPEG for some
datasets). TFRecord framing: uint64 length, uint32 masked CRC of the length, the bytes, uint32
masked CRC of the bytes (little endian). The Example proto comes from TFDS's own vendored copy.
CRCs are not verified; a truncated record is an error naming the file.
"""
from __future__ import annotations

import glob
import io
import os
import struct
from typing import Iterator

import numpy as np
from PIL import Image
from tensorflow_datasets.proto import tf_example_pb2


class TFRecordError(Exception):
  pass


def split_files(directory: str, split: str) -> list[str]:
  """The TFRecord shards of `split` in a TFDS dataset-version directory."""
  return sorted(glob.glob(os.path.join(directory, f"*-{split}.tfrecord*")))


def read_records(path: str) -> Iterator[bytes]:
  with open(path, "rb") as f:
    while True:
      header = f.read(12)
      if not header:
        return
      if len(header) < 12:
        raise TFRecordError(f"{path}: truncated record header")
      (length,) = struct.unpack("<Q", header[:8])
      data = f.read(length)
      if len(data) < length or len(f.read(4)) < 4:
        raise TFRecordError(f"{path}: truncated record ({len(data)} of {length} bytes)")
      yield data


def decode_video(serialized_example: bytes, feature_key: str) -> np.ndarray:
  """The frames of `feature_key` (a TFDS Video feature) as uint8 (T, H, W, C)."""
  example = tf_example_pb2.Example.FromString(serialized_example)
  features = example.features.feature
  if feature_key not in features:
    raise TFRecordError(f"no feature {feature_key!r} in the example; it has "
                        f"{sorted(features.keys())}")
  frames = [np.asarray(Image.open(io.BytesIO(b))) for b in features[feature_key].bytes_list.value]
  if not frames:
    raise TFRecordError(f"feature {feature_key!r} holds no frames")
  video = np.stack(frames)
  return video[..., None] if video.ndim == 3 else video
