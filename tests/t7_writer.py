"""A minimal Torch7 binary serializer (torch.save's format) for tests: tables, strings, numbers,
booleans, nn modules as torch objects, Float/Cuda tensors with their storages."""
import struct

import numpy as np

TYPE_NIL, TYPE_NUMBER, TYPE_STRING, TYPE_TABLE, TYPE_TORCH, TYPE_BOOLEAN = 0, 1, 2, 3, 4, 5


class Module:
  """An nn module: its Torch class name and its fields (a Lua table)."""

  def __init__(self, class_name, **fields):
    self.class_name, self.fields = class_name, fields


class Tensor:
  """A tensor and its storage; `storage_size`, `strides` and `offset` (1-based) override what
  the array gives, to craft files whose view reaches outside the storage."""

  def __init__(self, array, class_name="torch.FloatTensor", storage_size=None, strides=None,
               offset=1):
    self.array, self.class_name = np.ascontiguousarray(array, np.float32), class_name
    self.storage_size, self.strides, self.offset = storage_size, strides, offset


class _Writer:
  def __init__(self, f):
    self.f, self.next_index = f, 1

  def _int(self, v):
    self.f.write(struct.pack("<i", v))

  def _long(self, v):
    self.f.write(struct.pack("<q", v))

  def _string(self, s):
    data = s.encode() if isinstance(s, str) else s
    self._int(len(data))
    self.f.write(data)

  def _index(self):
    self.next_index += 1
    return self.next_index - 1

  def obj(self, value):
    if value is None:
      self._int(TYPE_NIL)
    elif isinstance(value, bool):
      self._int(TYPE_BOOLEAN)
      self._int(int(value))
    elif isinstance(value, (int, float)):
      self._int(TYPE_NUMBER)
      self.f.write(struct.pack("<d", float(value)))
    elif isinstance(value, str):
      self._int(TYPE_STRING)
      self._string(value)
    elif isinstance(value, (list, dict)):
      items = list(enumerate(value, 1)) if isinstance(value, list) else list(value.items())
      self._int(TYPE_TABLE)
      self._int(self._index())
      self._int(len(items))
      for k, v in items:
        self.obj(k)
        self.obj(v)
    elif isinstance(value, Module):
      self._torch_header(value.class_name)
      self.obj(value.fields)
    elif isinstance(value, Tensor):
      self._torch_header(value.class_name)
      a = value.array
      self._int(a.ndim)
      for s in a.shape:
        self._long(s)
      for s in value.strides or (np.array(a.strides) // a.itemsize):
        self._long(int(s))
      self._long(value.offset)  # storage offset, 1-based
      storage = value.class_name.replace("Tensor", "Storage")
      self._torch_header(storage)
      values = a.ravel()[:value.storage_size] if value.storage_size is not None else a.ravel()
      self._long(values.size)
      self.f.write(values.astype("<f4").tobytes())
    else:
      raise TypeError(type(value))

  def _torch_header(self, class_name):
    self._int(TYPE_TORCH)
    self._int(self._index())
    self._string("V 1")
    self._string(class_name)


def save(path, value):
  with open(path, "wb") as f:
    _Writer(f).obj(value)
