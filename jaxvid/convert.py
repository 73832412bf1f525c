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
mask head mask_out); BatchNorm weight/bias/running_mean/running_var become scale/bias/mean/var.
Torch's full-convolution weight (in, out, k...) is our (k..., in, out) with the same (unflipped)
semantics (tests/test_layers.py). The widths, z size and clip size (T, H, W) = base x 2^n are
read from the weights. Only the generator was released: the workdir's discriminator is freshly
initialised (sampling only; training from it would start D from scratch). Sample with BatchNorm's
running statistics (`--running_stats`), as the authors' generate.lua does.

vgg19: torchvision's VGG19 ImageNet state dict (.pth, needs torch) or an .npz of its
`features.N.*` arrays -> the .npz EDN's perceptual loss reads (--config.edn.vgg19_weights).
"""
from __future__ import annotations

import os
import sys

import numpy as np

from jaxvid.errors import UserError, run_cli

USAGE = ("usage: python -m jaxvid.convert vgan-t7 MODEL.t7 --workdir=DIR\n"
         "       python -m jaxvid.convert vgg19 VGG19.pth|.npz OUT.npz")


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


def read_vgan_t7(path: str) -> dict:
  """The generator's layers from a main.lua .t7: {'bg': [(kind, module)], 'fg': [...]}."""
  try:
    import torchfile
  except ImportError as e:
    raise UserError("reading .t7 needs the torchfile package: pip install torchfile") from e
  try:
    net = torchfile.load(path)
  except Exception as e:  # noqa: BLE001 - torchfile raises many kinds on a bad file
    raise UserError(f"{path}: not a readable Torch7 file ({type(e).__name__}: {e})") from e
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
  return ({"scale": _array(module, "weight"), "bias": _array(module, "bias")},
          {"mean": _array(module, "running_mean"), "var": _array(module, "running_var")})


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


def convert_vgan_t7(path: str, workdir: str) -> dict:
  """Write a jaxvid workdir (config.json + a step-0 checkpoint) from a released .t7."""
  import jax

  from jaxvid import checkpoint as ckpt_lib
  from jaxvid.trainers import get_trainer
  path, workdir = os.path.expanduser(path), os.path.expanduser(workdir)
  if not os.path.isfile(path):
    raise UserError(f"{path} does not exist")
  if os.path.exists(os.path.join(workdir, "checkpoints")):
    raise UserError(f"{workdir} already holds checkpoints: convert into a new workdir")
  params, stats, shapes = vgan_params_from_t7(read_vgan_t7(path))
  config = _paper_vgan_config()
  config.vgan.z_dim = shapes["z_dim"]
  config.vgan.g_channels = tuple(shapes["g_channels"])
  config.vgan.d_channels = tuple(reversed(shapes["g_channels"]))
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
  """configs/vgan.py:paper from the checkout jaxvid runs from (the widths and sizes are then
  replaced by the file's)."""
  import importlib.util
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs",
                      "vgan.py")
  if not os.path.isfile(path):
    raise UserError(f"{path} not found: run from a jaxvid checkout (pip install -e .)")
  spec = importlib.util.spec_from_file_location("jaxvid_vgan_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config("paper")


# ---------------------------------------------------------------- VGG19

def convert_vgg19(src: str, dst: str) -> int:
  """torchvision VGG19 (.pth, needs torch; or .npz of its arrays) -> our .npz; layers written."""
  src, dst = os.path.expanduser(src), os.path.expanduser(dst)
  if not os.path.isfile(src):
    raise UserError(f"{src} does not exist")
  if src.endswith((".pth", ".pt")):
    try:
      import torch  # only this converter needs torch
    except ImportError as e:
      raise UserError("reading a .pth needs torch (pip install torch)") from e
    state = torch.load(src, map_location="cpu")
    arrays = {k: v.numpy() for k, v in state.items() if k.startswith("features.")}
  else:
    with np.load(src) as f:
      arrays = {k: f[k] for k in f.files if k.startswith("features.")}
  if not arrays:
    raise UserError(f"{src}: no 'features.N.weight' tensors (is it a torchvision vgg19?)")
  np.savez(dst, **arrays)
  return len(arrays) // 2


def main(argv: list[str]) -> int:
  args = [a for a in argv[1:] if not a.startswith("--")]
  opts = dict(a[2:].split("=", 1) for a in argv[1:] if a.startswith("--") and "=" in a)
  if len(args) == 2 and args[0] == "vgan-t7" and "workdir" in opts:
    shapes = convert_vgan_t7(args[1], opts["workdir"])
    print(f"wrote {opts['workdir']}: VGAN generator, z {shapes['z_dim']}, widths "
          f"{shapes['g_channels']}, clips {'x'.join(map(str, shapes['clip']))} (T x H x W); "
          f"sample with python -m jaxvid.generate --workdir={opts['workdir']} --running_stats")
  elif len(args) == 3 and args[0] == "vgg19":
    print(f"wrote {args[2]}: {convert_vgg19(args[1], args[2])} conv layers")
  else:
    print(USAGE, file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(run_cli(main)(sys.argv))
