"""Weights from elsewhere into jaxvid.

  python -m jaxvid.convert vgan-t7 golf/iter30000_net.t7 --workdir=runs/vgan_golf
  python -m jaxvid.generate --workdir=runs/vgan_golf --num=16 --running_stats --output=runs/golf
  python -m jaxvid.convert vgg19 vgg19-dcbb9e9d.pth vgg19.npz

vgan-t7: the authors' released two-stream generators (Torch7 `.t7`, saved by `main.lua` as
`net:clearState()`, nn or cudnn modules, Float or Cuda tensors; read with the `torchfile`
package) -> a jaxvid workdir that `jaxvid.load`, `jaxvid.generate` and `jaxvid.evaluate` use.
The module tree main.lua builds is walked in order: the 2-D full convolutions and their
SpatialBatchNormalization are the background stream (bg_in, bg_tower/up_i, bg_out), the 3-D
ones the foreground stream (fg_in, fg_tower/up_i, then the ConcatTable's video head fg_out and
mask head mask_out); BatchNorm weight/bias/running_mean/running_var become scale/bias/mean/var
(the 2016 modules' running_std = 1/sqrt(var + eps) is read as well).
Torch's full-convolution weight (in, out, k...) is our (k..., in, out) with the same (unflipped)
semantics (tests/test_layers.py). The widths, z size and clip size (T, H, W) = base x 2^n are
read from the weights. main.lua saves the discriminator beside the generator (iterN_netD.t7):
it is converted too when it is there (or given with --discriminator), its two-way softmax
output as our one logit (their difference); otherwise the workdir's D is freshly initialised
(fine for sampling; training on from it would start D from scratch). Sample with BatchNorm's
running statistics (`--running_stats`), as the authors' generate.lua does.

vgg19: torchvision's VGG19 ImageNet state dict (.pth, needs torch) or an .npz of its
`features.N.*` arrays -> the .npz EDN's perceptual loss reads (--config.edn.vgg19_weights).
"""
from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from jaxvid import paths
from jaxvid.errors import UserError, run_cli

USAGE = ("usage: python -m jaxvid.convert vgan-t7 MODEL_net.t7 --workdir=DIR "
         "[--discriminator=MODEL_netD.t7]\n"
         "       python -m jaxvid.convert vgg19 VGG19.pth|.npz OUT.npz [--overwrite]")


# ---------------------------------------------------------------- Torch7 VGAN generators

def _class(module) -> str:
  """'SpatialFullConvolution' for nn.* and cudnn.* alike."""
  name = module.torch_typename() if hasattr(module, "torch_typename") else b""
  return (name.decode() if isinstance(name, bytes) else str(name)).split(".")[-1]


def _field(module, key: str):
  obj = module._obj if hasattr(module, "torch_typename") else module
  if not isinstance(obj, dict):
    return None
  for k in (key, key.encode()):
    if k in obj:
      return obj[k]
  return None


def _walk(module):
  """Modules with parameters, depth first in `modules` order (the order main.lua adds them)."""
  children = _field(module, "modules")
  if children is not None:
    for child in (children if isinstance(children, list) else list(children.values())):
      yield from _walk(child)
  elif _field(module, "weight") is not None:
    yield module


def _array(module, key: str) -> np.ndarray:
  value = _field(module, key)
  if value is None:
    raise UserError(f"{_class(module)} has no {key}")
  return np.array(value, np.float32)


class _BadTensor(Exception):
  """A tensor whose sizes, strides or offset reach outside its storage."""


def _checked_tensor_reader(dtype):
  """torchfile's tensor reader, with the file's sizes, strides and offset checked against the
  storage before any view is made. torchfile's own builds the view with numpy's as_strided from
  the file's numbers unchecked: a crafted .t7 gets arrays of process memory past the storage,
  or a segmentation fault."""

  def read(reader, version):
    del version
    ndim = reader.read_int()
    if not 0 <= ndim <= 8:
      raise _BadTensor(f"a tensor of {ndim} dimensions")
    size, stride = reader.read_long_array(ndim), reader.read_long_array(ndim)
    offset = reader.read_long() - 1  # 1-based in the file
    storage = reader.read_obj()
    if storage is None or ndim == 0:
      return np.empty(0, dtype)
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
      raise _BadTensor("a tensor whose storage is not a storage")
    if any(n < 0 for n in size) or offset < 0:
      raise _BadTensor(f"a tensor of size {list(size)} at offset {offset + 1}")
    if 0 in size:
      return np.empty(size, storage.dtype)
    lowest = offset + sum((n - 1) * s for n, s in zip(size, stride) if s < 0)
    highest = offset + sum((n - 1) * s for n, s in zip(size, stride) if s > 0)
    if lowest < 0 or highest >= len(storage):
      raise _BadTensor(f"a tensor of size {list(size)}, strides {list(stride)} and offset "
                       f"{offset + 1} reaches outside its storage of {len(storage)} values")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[storage.dtype.itemsize * s for s in stride])
    return np.array(view)  # a copy: nothing refers to the view's strides afterwards

  return read


@contextlib.contextmanager
def _checked_tensors(torchfile):
  """torchfile's tensor readers replaced by checked ones while a file is read (its handler
  registry is the package's documented extension point), restored afterwards."""
  names = [name for name in torchfile.type_handlers if name.endswith(b"Tensor")
           and name not in (b"torch.HalfTensor",)]
  saved = {name: torchfile.type_handlers[name] for name in names}
  kinds = {"Byte": np.uint8, "Char": np.int8, "Short": np.int16, "Int": np.int32,
           "Long": np.int64, "Float": np.float32, "Double": np.float64, "": np.float32}
  dtypes = {name: kinds.get(name.decode().removeprefix("torch.").removeprefix("Cuda")
                            .removesuffix("Tensor"), np.float32) for name in names}
  try:
    for name in names:
      torchfile.type_handlers[name] = _checked_tensor_reader(dtypes[name])
    yield
  finally:
    torchfile.type_handlers.update(saved)


def _load_t7(path: str):
  try:
    import torchfile  # lazy: only the converter reads Torch7 files
  except ImportError as e:
    raise UserError("reading .t7 needs the torchfile package: pip install torchfile") from e
  try:
    with _checked_tensors(torchfile):
      return torchfile.load(path)
  except _BadTensor as e:
    raise UserError(f"{path}: a damaged or crafted Torch7 file ({e}); nothing was converted") \
        from e
  except Exception as e:  # noqa: BLE001 - torchfile raises many kinds on a bad file
    raise UserError(f"{path}: not a readable Torch7 file ({type(e).__name__}: {e})") from e


def read_vgan_t7(path: str) -> dict:
  """The generator's layers from a main.lua .t7: {'bg': [(kind, module)], 'fg': [...]}."""
  net = _load_t7(path)
  streams = {"bg": [], "fg": []}
  for module in _walk(net):
    name = _class(module)
    if name in ("SpatialFullConvolution", "SpatialBatchNormalization"):
      streams["bg"].append(("conv" if "Convolution" in name else "bn", module))
    elif name in ("VolumetricFullConvolution", "VolumetricBatchNormalization"):
      streams["fg"].append(("conv" if "Convolution" in name else "bn", module))
    else:
      raise UserError(f"{path}: unexpected layer {name} with weights: not a VGAN generator "
                      f"as main.lua builds it")
  if not streams["bg"] or not streams["fg"]:
    raise UserError(f"{path}: no two-stream generator (found {len(streams['bg'])} 2-D and "
                    f"{len(streams['fg'])} 3-D layers)")
  return streams


def _conv(module) -> dict:
  weight = _array(module, "weight")  # (in, out, k...)
  return {"kernel": np.moveaxis(weight, (0, 1), (-2, -1)), "bias": _array(module, "bias")}


def _bn(module) -> tuple[dict, dict]:
  """(params, statistics) of a BatchNormalization. The 2016 nn/cudnn modules kept
  running_std = 1 / sqrt(var + eps) instead of running_var: var = running_std^-2 - eps."""
  if _field(module, "running_var") is not None:
    var = _array(module, "running_var")
  elif _field(module, "running_std") is not None:
    eps = float(_field(module, "eps") or 1e-5)
    var = np.maximum(1.0 / np.square(_array(module, "running_std")) - eps, 0.0)
  else:
    raise UserError(f"{_class(module)} has neither running_var nor running_std")
  return ({"scale": _array(module, "weight"), "bias": _array(module, "bias")},
          {"mean": _array(module, "running_mean"), "var": var.astype(np.float32)})


def vgan_params_from_t7(streams: dict) -> tuple[dict, dict, dict]:
  """(params, batch_stats, shapes {'z_dim', 'g_channels', 'clip'}) in our generator's layout."""
  def split(layers, heads: int):
    convs = [m for kind, m in layers if kind == "conv"]
    bns = [m for kind, m in layers if kind == "bn"]
    if len(bns) != len(convs) - heads:
      raise UserError(f"expected one BatchNorm after each hidden full convolution; found "
                      f"{len(convs)} convolutions and {len(bns)} BatchNorms")
    return convs, bns

  bg_convs, bg_bns = split(streams["bg"], 1)
  fg_convs, fg_bns = split(streams["fg"], 2)  # the video head and the mask head
  params, stats = {}, {}
  params["bg_in"], (params["bn_bg_in"], stats["bn_bg_in"]) = _conv(bg_convs[0]), _bn(bg_bns[0])
  params["fg_in"], (params["bn_fg_in"], stats["bn_fg_in"]) = _conv(fg_convs[0]), _bn(fg_bns[0])
  for stream, convs, bns in (("bg", bg_convs, bg_bns), ("fg", fg_convs, fg_bns)):
    tower_p, tower_s = {}, {}
    for i, (conv, bn) in enumerate(zip(convs[1:], bns[1:])):
      tower_p[f"up{i}"] = _conv(conv)
      tower_p[f"bn_up{i}"], tower_s[f"bn_up{i}"] = _bn(bn)
    params[f"{stream}_tower"], stats[f"{stream}_tower"] = tower_p, tower_s
  params["bg_out"] = _conv(bg_convs[-1])
  params["fg_out"], params["mask_out"] = _conv(fg_convs[-2]), _conv(fg_convs[-1])
  if params["mask_out"]["kernel"].shape[-1] != 1:  # main.lua adds the video head first
    params["fg_out"], params["mask_out"] = params["mask_out"], params["fg_out"]
  channels = [int(params["fg_in"]["kernel"].shape[-1])] + [
      int(params["fg_tower"][f"up{i}"]["kernel"].shape[-1]) for i in range(len(fg_convs) - 3)]
  base = params["fg_in"]["kernel"].shape[:3]
  scale = 2 ** len(channels)
  shapes = {"z_dim": int(params["fg_in"]["kernel"].shape[-2]), "g_channels": channels,
            "clip": [int(b) * scale for b in base]}
  return params, stats, shapes


def read_vgan_d_t7(path: str) -> list:
  """The discriminator's layers from main.lua's ..._netD.t7: [(kind, module)] in order."""
  net = _load_t7(path)
  layers = []
  for module in _walk(net):
    name = _class(module)
    if name == "VolumetricConvolution":
      layers.append(("conv", module))
    elif name == "VolumetricBatchNormalization":
      layers.append(("bn", module))
    else:
      raise UserError(f"{path}: unexpected layer {name} with weights: not a VGAN discriminator "
                      f"as main.lua builds it")
  if not layers or layers[0][0] != "conv":
    raise UserError(f"{path}: no 3-D convolutions: not a VGAN discriminator")
  return layers


def _conv3d(module) -> dict:
  weight = _array(module, "weight")  # (out, in, kT, kH, kW), a cross-correlation like ours
  return {"kernel": np.transpose(weight, (2, 3, 4, 1, 0)), "bias": _array(module, "bias")}


def vgan_d_params_from_t7(layers: list) -> tuple[dict, dict, list]:
  """(params, batch_stats, widths) of our one-logit Discriminator. main.lua's last conv has two
  outputs into a softmax over (real, fake) (real_label = 1, the first); softmax([a, b])_real =
  sigmoid(a - b), so our logit conv is the difference of the two."""
  convs = [m for kind, m in layers if kind == "conv"]
  bns = [m for kind, m in layers if kind == "bn"]
  if len(bns) != len(convs) - 2:
    raise UserError(f"expected BatchNorm after every hidden 3-D convolution but the first; found "
                    f"{len(convs)} convolutions and {len(bns)} BatchNorms")
  params, stats = {}, {}
  for i, conv in enumerate(convs[:-1]):
    params[f"conv{i}"] = _conv3d(conv)
    if i > 0:
      params[f"bn{i}"], stats[f"bn{i}"] = _bn(bns[i - 1])
  last = _conv3d(convs[-1])
  if last["kernel"].shape[-1] != 2:
    raise UserError(f"the last convolution has {last['kernel'].shape[-1]} outputs; main.lua's "
                    f"has 2 (real, fake)")
  params["logit"] = {"kernel": last["kernel"][..., :1] - last["kernel"][..., 1:],
                     "bias": last["bias"][:1] - last["bias"][1:]}
  widths = [int(params[f"conv{i}"]["kernel"].shape[-1]) for i in range(len(convs) - 1)]
  return params, stats, widths


def discriminator_beside(path: str) -> str:
  """main.lua saves D next to G: iterN_net.t7 -> iterN_netD.t7 ('' when there is none)."""
  root, ext = os.path.splitext(path)
  candidate = f"{root}D{ext}"
  return candidate if os.path.isfile(candidate) else ""


def convert_vgan_t7(path: str, workdir: str, discriminator: str | None = None) -> dict:
  """Write a jaxvid workdir (config.json + a step-0 checkpoint) from a released .t7: the
  generator, and the discriminator from `discriminator` (default: the ..._netD.t7 beside it,
  when there is one; otherwise D is freshly initialised)."""
  import jax

  from jaxvid import checkpoint as ckpt_lib
  from jaxvid.trainers import get_trainer
  path, workdir = os.path.expanduser(path), os.path.expanduser(workdir)
  if not os.path.isfile(path):
    raise UserError(f"{path} does not exist")
  if os.path.exists(os.path.join(workdir, "checkpoints")):
    raise UserError(f"{workdir} already holds checkpoints: convert into a new workdir")
  discriminator = discriminator_beside(path) if discriminator is None else os.path.expanduser(
      discriminator)
  if discriminator and not os.path.isfile(discriminator):
    raise UserError(f"--discriminator {discriminator} does not exist")
  params, stats, shapes = vgan_params_from_t7(read_vgan_t7(path))
  d_params = d_stats = None
  if discriminator:
    d_params, d_stats, d_widths = vgan_d_params_from_t7(read_vgan_d_t7(discriminator))
  config = _paper_vgan_config()
  config.vgan.z_dim = shapes["z_dim"]
  config.vgan.g_channels = tuple(shapes["g_channels"])
  config.vgan.d_channels = tuple(d_widths if discriminator else reversed(shapes["g_channels"]))
  config.data.frames, config.data.height, config.data.width = shapes["clip"]
  config.vgan.conv_impl = "auto"
  trainer = get_trainer(config)
  state = trainer.init_state(jax.random.key(0))
  ours = jax.tree.map(np.shape, state.g_params)
  theirs = jax.tree.map(np.shape, params)
  if ours != theirs:
    raise UserError(f"{path}: the generator's layers do not fit VGAN's: ours {ours}, the "
                    f"file's {theirs}")
  state = state.replace(g_params=jax.tree.map(np.asarray, params),
                        g_batch_stats=jax.tree.map(np.asarray, stats))
  if discriminator:
    ours, theirs = jax.tree.map(np.shape, state.d_params), jax.tree.map(np.shape, d_params)
    if ours != theirs:
      raise UserError(f"{discriminator}: the discriminator's layers do not fit VGAN's for this "
                      f"clip size: ours {ours}, the file's {theirs}")
    state = state.replace(d_params=jax.tree.map(np.asarray, d_params),
                          d_batch_stats=jax.tree.map(np.asarray, d_stats))
  shapes["discriminator"] = discriminator
  os.makedirs(workdir, exist_ok=True)
  ckpt_lib.dump_config(os.path.join(workdir, "config.json"), config)
  checkpointer = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"), 1,
                                       trainer.metadata())
  try:
    checkpointer.save(0, state)  # no data position: a run resumed from it starts the data afresh
    checkpointer.wait_until_finished()
  finally:
    checkpointer.close()
  return shapes


def _paper_vgan_config():
  """configs/vgan.py:paper (the widths and sizes are then replaced by the file's)."""
  try:
    from configs import vgan  # the configs package, installed beside jaxvid
  except ImportError as e:
    raise UserError("the configs package is not importable: install jaxvid from its checkout "
                    "(pip install -e .)") from e
  return vgan.get_config("paper")


# ---------------------------------------------------------------- VGG19

def convert_vgg19(src: str, dst: str, overwrite: bool = False) -> int:
  """torchvision VGG19 (.pth, needs torch; or .npz of its arrays) -> our .npz; layers written."""
  src = os.path.expanduser(src)
  if not os.path.isfile(src):
    raise UserError(f"{src} does not exist")
  dst = paths.check_output_file(dst, "OUT.npz", suffixes=(".npz",), inputs=(src,),
                                overwrite=overwrite)
  not_vgg = f"{src}: not a torchvision VGG19 state dict (.pth) or an .npz of its arrays"
  if src.endswith((".pth", ".pt")):
    try:
      import torch  # only this converter needs torch
    except ImportError as e:
      raise UserError("reading a .pth needs torch (pip install torch)") from e
    try:
      state = torch.load(src, map_location="cpu")
      arrays = {k: v.numpy() for k, v in state.items() if k.startswith("features.")}
    except Exception as e:  # noqa: BLE001 - torch raises many types for a file it cannot read
      raise UserError(f"{not_vgg} ({type(e).__name__})") from e
  else:
    try:
      with np.load(src) as f:  # no pickles: arrays only
        arrays = {k: f[k] for k in f.files if k.startswith("features.")}
    except (ValueError, OSError, AttributeError) as e:
      raise UserError(f"{not_vgg} ({type(e).__name__})") from e
  if not arrays:
    raise UserError(f"{src}: no 'features.N.weight' tensors (is it a torchvision vgg19?)")
  np.savez(dst, **arrays)
  return len(arrays) // 2


def main(argv: list[str]) -> int:
  args = [a for a in argv[1:] if not a.startswith("--")]
  opts = dict(a[2:].split("=", 1) for a in argv[1:] if a.startswith("--") and "=" in a)
  if len(args) == 2 and args[0] == "vgan-t7" and "workdir" in opts:
    shapes = convert_vgan_t7(args[1], opts["workdir"], opts.get("discriminator"))
    d = (f"the discriminator from {shapes['discriminator']}" if shapes["discriminator"] else
         "no discriminator file beside it (D freshly initialised; --discriminator=FILE)")
    print(f"wrote {opts['workdir']}: VGAN generator, z {shapes['z_dim']}, widths "
          f"{shapes['g_channels']}, clips {'x'.join(map(str, shapes['clip']))} (T x H x W); "
          f"{d}; sample with python -m jaxvid.generate --workdir={opts['workdir']} "
          f"--running_stats")
  elif len(args) == 3 and args[0] == "vgg19":
    layers = convert_vgg19(args[1], args[2], overwrite="--overwrite" in argv)
    print(f"wrote {args[2]}: {layers} conv layers")
  else:
    print(USAGE, file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(run_cli(main)(sys.argv))
