"""Inception-v3 (FID) and C3D (video Inception Score): networks + loaders for user weights.

No offline weights exist for either, so the code that reads them is here, tested on random
weights in the same files. Both read an .npz of a PyTorch state dict (`np.savez(path,
**{k: v.numpy() for k, v in model.state_dict().items()})`):
* Inception-v3 as torchvision / pytorch-fid name it (`Conv2d_1a_3x3.conv.weight`,
  `Mixed_5b.branch1x1.bn.running_mean`, ...): every BasicConv2d is conv (no bias) + BatchNorm
  (eps 1e-3) + ReLU; FID uses the 2048-d average-pooled features of 299x299 inputs.
  `variant='fid'` (the default) is the network pytorch-fid builds for its FID weights
  (`pt_inception-2015-12-05`, TF's FID Inception): its FIDInceptionA/C/E average pools leave
  the zero padding out of the mean and Mixed_7c's pool branch is a max pool;
  `variant='torchvision'` is torchvision's inception_v3 (padding counted, average pools).
* C3D (Tran et al. 2015) as the common PyTorch port names it (`conv1.weight`, `conv3a.weight`,
  ..., `fc6.weight`, `fc8.weight`): 3x3x3 convs with bias + ReLU, max pools (1,2,2) then
  (2,2,2), fc6/fc7 4096 + ReLU, fc8 -> classes (UCF101: 101); inputs 16x112x112.
"""
from __future__ import annotations

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxvid.errors import UserError


class BasicConv(nn.Module):
  features: int
  kernel: tuple
  stride: int = 1
  padding: tuple = (0, 0)

  @nn.compact
  def __call__(self, x):
    pad = [(p, p) for p in self.padding]
    x = nn.Conv(self.features, self.kernel, self.stride, padding=pad, use_bias=False,
                name="conv")(x)
    return nn.relu(nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x))


VARIANTS = ("fid", "torchvision")


def _pool(x, kind, size=3, stride=1, pad=1):
  """'max', 'avg' (zero padding counted in the mean, torchvision) or 'avg_exclude_pad'
  (pytorch-fid's F.avg_pool2d(..., count_include_pad=False))."""
  if kind == "max":
    # padding with -inf, as Torch's max pool ignores its padding
    return nn.max_pool(x, (size, size), (stride, stride), padding=[(pad, pad)] * 2)
  return nn.avg_pool(x, (size, size), (stride, stride), padding=[(pad, pad)] * 2,
                     count_include_pad=kind == "avg")


class InceptionV3(nn.Module):
  """Inception-v3 up to the 2048-d pooled features (no aux head, no fc): pytorch-fid's FID
  network (`variant='fid'`) or torchvision's (`'torchvision'`); the same parameters."""
  variant: str = "fid"

  @nn.compact
  def __call__(self, x):  # (B, 299, 299, 3), already normalised as the weights expect
    if self.variant not in VARIANTS:
      raise ValueError(f"Inception variant must be one of {VARIANTS}, got {self.variant!r}")
    fid = self.variant == "fid"
    avg = "avg_exclude_pad" if fid else "avg"
    C = lambda f, k, s=1, p=(0, 0), name=None: BasicConv(f, k, s, p, name=name)
    x = C(32, (3, 3), 2, name="Conv2d_1a_3x3")(x)
    x = C(32, (3, 3), name="Conv2d_2a_3x3")(x)
    x = C(64, (3, 3), p=(1, 1), name="Conv2d_2b_3x3")(x)
    x = _pool(x, "max", 3, 2, 0)
    x = C(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = C(192, (3, 3), name="Conv2d_4a_3x3")(x)
    x = _pool(x, "max", 3, 2, 0)
    for name, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
      x = _InceptionA(pool_features, avg, name=name)(x)
    x = _InceptionB(name="Mixed_6a")(x)
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
      x = _InceptionC(c7, avg, name=name)(x)
    x = _InceptionD(name="Mixed_7a")(x)
    x = _InceptionE(avg, name="Mixed_7b")(x)
    x = _InceptionE("max" if fid else avg, name="Mixed_7c")(x)
    return jnp.mean(x, axis=(1, 2))


class _InceptionA(nn.Module):
  pool_features: int
  pool: str = "avg"

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(64, (1, 1), name="branch1x1")(x)
    b5 = BasicConv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(
        BasicConv(48, (1, 1), name="branch5x5_1")(x))
    b3 = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
    bp = BasicConv(self.pool_features, (1, 1), name="branch_pool")(_pool(x, self.pool))
    return jnp.concatenate([b1, b5, b3, bp], -1)


class _InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(384, (3, 3), 2, name="branch3x3")(x)
    bd = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = BasicConv(96, (3, 3), 2, name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _pool(x, "max", 3, 2, 0)], -1)


class _InceptionC(nn.Module):
  c7: int
  pool: str = "avg"

  @nn.compact
  def __call__(self, x):
    c7 = self.c7
    b1 = BasicConv(192, (1, 1), name="branch1x1")(x)
    b7 = BasicConv(c7, (1, 1), name="branch7x7_1")(x)
    b7 = BasicConv(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
    bd = BasicConv(c7, (1, 1), name="branch7x7dbl_1")(x)
    bd = BasicConv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
    bd = BasicConv(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
    bd = BasicConv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
    bd = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
    bp = BasicConv(192, (1, 1), name="branch_pool")(_pool(x, self.pool))
    return jnp.concatenate([b1, b7, bd, bp], -1)


class _InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(192, (1, 1), name="branch3x3_1")(x)
    b3 = BasicConv(320, (3, 3), 2, name="branch3x3_2")(b3)
    b7 = BasicConv(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = BasicConv(192, (3, 3), 2, name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _pool(x, "max", 3, 2, 0)], -1)


class _InceptionE(nn.Module):
  pool: str = "avg"

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(320, (1, 1), name="branch1x1")(x)
    b3 = BasicConv(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                          BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], -1)
    bd = BasicConv(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                          BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], -1)
    bp = BasicConv(192, (1, 1), name="branch_pool")(_pool(x, self.pool))
    return jnp.concatenate([b1, b3, bd, bp], -1)


class C3D(nn.Module):
  num_classes: int = 101

  @nn.compact
  def __call__(self, x):  # (B, 16, 112, 112, 3), normalised as the weights expect
    conv = lambda f, name: nn.Conv(f, (3, 3, 3), padding=[(1, 1)] * 3, name=name)
    x = nn.max_pool(nn.relu(conv(64, "conv1")(x)), (1, 2, 2), (1, 2, 2))
    x = nn.max_pool(nn.relu(conv(128, "conv2")(x)), (2, 2, 2), (2, 2, 2))
    for block, width in ((3, 256), (4, 512), (5, 512)):
      x = nn.relu(conv(width, f"conv{block}a")(x))
      x = nn.relu(conv(width, f"conv{block}b")(x))
      pad = [(0, 0), (1, 1), (1, 1)] if block == 5 else "VALID"  # the port's pool5 padding
      x = nn.max_pool(x, (2, 2, 2), (2, 2, 2), padding=pad)
    # Torch flattens (C, T, H, W); keep that order so fc6's weights apply unchanged.
    x = jnp.transpose(x, (0, 4, 1, 2, 3)).reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(4096, name="fc6")(x))
    x = nn.relu(nn.Dense(4096, name="fc7")(x))
    return nn.Dense(self.num_classes, name="fc8")(x)


# ----- loading PyTorch state dicts (.npz) -----

def _read_npz(path: str) -> dict:
  if not path or not os.path.exists(path):
    raise UserError(f"weights file {path!r} does not exist")
  try:
    with np.load(path) as f:
      return dict(f)
  except (OSError, ValueError) as e:
    raise UserError(f"{path}: not a readable .npz ({e})") from e


def _torch_to_flax(template, state: dict, path: str, prefix: str = "") -> dict:
  """Fill a Flax variable tree from Torch keys: conv (O, I, *k) -> (*k, I, O), Linear (O, I)
  -> (I, O), BatchNorm weight/bias/running_mean/running_var -> scale/bias/mean/var."""
  out = {}
  for name, sub in template.items():
    key = f"{prefix}{name}"
    if isinstance(sub, dict) and not {"kernel", "bias", "scale", "mean", "var"} & set(sub):
      out[name] = _torch_to_flax(sub, state, path, key + ".")
      continue
    leaf = {}
    for field, like in sub.items():
      torch_name = {"kernel": "weight", "bias": "bias", "scale": "weight", "mean": "running_mean",
                    "var": "running_var"}[field]
      if f"{key}.{torch_name}" not in state:
        raise UserError(f"{path}: missing {key}.{torch_name}")
      value = state[f"{key}.{torch_name}"]
      if field == "kernel":
        value = np.moveaxis(value, (0, 1), (-1, -2)) if value.ndim > 2 else value.T
      if value.shape != like.shape:
        raise UserError(f"{path}: {key}.{torch_name} has shape {value.shape} after conversion, "
                        f"the network needs {like.shape}")
      leaf[field] = np.asarray(value, np.float32)
    out[name] = leaf
  return out


def load_torch_npz(module: nn.Module, example_shape, path: str) -> dict:
  """Variables of `module` from a PyTorch state dict saved as .npz."""
  template = jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros(example_shape)))
  state = _read_npz(path)
  variables = {"params": _torch_to_flax(template["params"], state, path)}
  if "batch_stats" in template:
    variables["batch_stats"] = _torch_to_flax(template["batch_stats"], state, path)
  return variables
