"""The authors' Torch7 VGAN generators into jaxvid: a .t7 with main.lua's module tree, written
by the test, converted and sampled, against a direct computation with the same weights."""
import itertools
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxvid
from jaxvid import convert
from jaxvid.errors import UserError
from jaxvid.trainers import get_trainer
from t7_writer import Module, Tensor, save
from helpers import REPO

Z, C = 5, (8, 4)  # z size, widths: clips of 2*4 x 4*4 x 4*4 = 8 x 16 x 16


def _full_conv(rng, n_in, n_out, kernel, stride, pad, cuda):
  name = "Volumetric" if len(kernel) == 3 else "Spatial"
  prefix = "cudnn." if cuda else "nn."
  tensor = "torch.CudaTensor" if cuda else "torch.FloatTensor"
  w = rng.normal(0, 0.3, (n_in, n_out) + kernel).astype(np.float32)
  b = rng.normal(0, 0.1, n_out).astype(np.float32)
  return Module(f"{prefix}{name}FullConvolution", weight=Tensor(w, tensor),
                bias=Tensor(b, tensor), nInputPlane=n_in, nOutputPlane=n_out,
                dW=stride, padW=pad, train=False), (w, b, stride, pad)


def _bn(rng, n, ndim, cuda, eps=1e-5):
  """A BatchNormalization; the cudnn ones as the 2016 modules stored them (running_std =
  1 / sqrt(var + eps) instead of running_var)."""
  name = "Volumetric" if ndim == 3 else "Spatial"
  tensor = "torch.CudaTensor" if cuda else "torch.FloatTensor"
  arrays = (rng.normal(1, 0.1, n), rng.normal(0, 0.1, n), rng.normal(0, 0.2, n),
            rng.uniform(0.5, 2.0, n))
  stored = arrays[:3] + ((1 / np.sqrt(arrays[3] + eps),) if cuda else arrays[3:])
  names = ("weight", "bias", "running_mean", "running_std" if cuda else "running_var")
  fields = dict(zip(names, (Tensor(a, tensor) for a in stored)))
  return Module(f"{'cudnn' if cuda else 'nn'}.{name}BatchNormalization", eps=eps,
                momentum=0.1, affine=True, **fields), arrays


def main_lua_discriminator(rng, widths, cuda=False):
  """netD as main.lua builds it (3 -> widths, k4 s2 p1, BatchNorm eps 1e-3 after all but the
  first, then 2 outputs over a (2, 4, 4) kernel), and its layers for the reference."""
  tensor = "torch.CudaTensor" if cuda else "torch.FloatTensor"
  prefix = "cudnn" if cuda else "nn"
  modules, ref = [], []
  n_in = 3
  for i, c in enumerate(list(widths) + [2]):
    kernel = (2, 4, 4) if i == len(widths) else (4, 4, 4)
    w = rng.normal(0, 0.2, (c, n_in) + kernel).astype(np.float32)  # (out, in, k...)
    b = rng.normal(0, 0.1, c).astype(np.float32)
    modules.append(Module(f"{prefix}.VolumetricConvolution", weight=Tensor(w, tensor),
                          bias=Tensor(b, tensor), nInputPlane=n_in, nOutputPlane=c))
    stats = None
    if 0 < i < len(widths):
      bn, stats = _bn(rng, c, 3, cuda, eps=1e-3)
      modules.append(bn)
    if i < len(widths):
      modules.append(Module("nn.LeakyReLU", negval=0.2))
    ref.append((w, b, stats))
    n_in = c
  return Module("nn.Sequential", modules=modules + [Module("nn.View")]), ref


def torch_conv3d(x, weight, bias, stride, pad):
  """Torch's VolumetricConvolution (a cross-correlation) from its (out, in, k...) weight."""
  x = np.pad(x, [(0, 0)] + [(pad, pad)] * 3 + [(0, 0)])
  kernel = weight.shape[2:]
  sizes = [(n - k) // stride + 1 for n, k in zip(x.shape[1:4], kernel)]
  out = np.zeros([x.shape[0]] + sizes + [weight.shape[0]])
  for o in itertools.product(*[range(n) for n in sizes]):
    patch = x[(slice(None),) + tuple(slice(stride * oo, stride * oo + k)
                                     for oo, k in zip(o, kernel))]
    out[(slice(None),) + o] = np.einsum("bthwi,oithw->bo", patch, weight)
  return out + bias


def reference_d_real_probability(ref, video):
  """softmax(netD(video))[real] computed with Torch's layer semantics."""
  x = video
  for i, (w, b, stats) in enumerate(ref):
    last = i == len(ref) - 1
    x = torch_conv3d(x, w, b, 1 if last else 2, 0 if last else 1)
    if stats is not None:
      scale, shift, mean, var = stats
      x = (x - mean) / np.sqrt(var + 1e-3) * scale + shift
    if not last:
      x = np.where(x > 0, x, 0.2 * x)
  logits = x.reshape(len(video), 2)
  return np.exp(logits[:, 0]) / np.exp(logits).sum(1)


def main_lua_generator(rng, cuda=False):
  """The module tree main.lua builds (widths C, z Z), and its layers for the reference."""
  nn = lambda name, **f: Module(f"nn.{name}", **f)
  seq = lambda *mods: nn("Sequential", modules=list(mods))
  ref = {"bg": [], "fg": []}
  static = [nn("View")]
  size_in = Z
  for i, c in enumerate(C):
    conv, layer = _full_conv(rng, size_in, c, (4, 4), 1 if i == 0 else 2, 0 if i == 0 else 1,
                             cuda)
    bn, stats = _bn(rng, c, 2, cuda)
    static += [conv, bn, nn("ReLU")]
    ref["bg"].append((layer, stats))
    size_in = c
  conv, layer = _full_conv(rng, size_in, 3, (4, 4), 2, 1, cuda)
  static += [conv, nn("Tanh")]
  ref["bg"].append((layer, None))
  video = [nn("View")]
  size_in = Z
  for i, c in enumerate(C):
    conv, layer = _full_conv(rng, size_in, c, (2, 4, 4) if i == 0 else (4, 4, 4),
                             1 if i == 0 else 2, 0 if i == 0 else 1, cuda)
    bn, stats = _bn(rng, c, 3, cuda)
    video += [conv, bn, nn("ReLU")]
    ref["fg"].append((layer, stats))
    size_in = c
  gen, gen_layer = _full_conv(rng, size_in, 3, (4, 4, 4), 2, 1, cuda)
  mask, mask_layer = _full_conv(rng, size_in, 1, (4, 4, 4), 2, 1, cuda)
  video.append(nn("ConcatTable", modules=[seq(gen, nn("Tanh")),
                                          seq(mask, nn("Sigmoid"), nn("L1Penalty", l1weight=0.1))]))
  ref["fg_out"], ref["mask_out"] = gen_layer, mask_layer
  combine = nn("ConcatTable", modules=[
      seq(nn("ConcatTable", modules=[nn("SelectTable"), seq(nn("SelectTable"), nn("Squeeze"),
                                                            nn("Replicate"))]), nn("CMulTable")),
      seq(nn("ConcatTable", modules=[seq(nn("SelectTable"), nn("Replicate")),
                                     seq(nn("SelectTable"), nn("Squeeze"), nn("MulConstant"),
                                         nn("AddConstant"), nn("Replicate"))]),
          nn("CMulTable"))])
  net = seq(nn("ConcatTable", modules=[seq(*video), seq(*static)]), nn("FlattenTable"),
            combine, nn("CAddTable"))
  return net, ref


def torch_full_conv(x, weight, bias, stride, pad):
  """Torch's FullConvolution from its own weight layout (in, out, k...): o = s i - p + k."""
  batch, *sizes, _ = x.shape
  kernel = weight.shape[2:]
  out_sizes = [(n - 1) * stride - 2 * pad + k for n, k in zip(sizes, kernel)]
  out = np.zeros([batch] + out_sizes + [weight.shape[1]])
  for i in itertools.product(*[range(n) for n in sizes]):
    for k in itertools.product(*[range(kk) for kk in kernel]):
      o = [stride * ii - pad + kk for ii, kk in zip(i, k)]
      if all(0 <= oo < n for oo, n in zip(o, out_sizes)):
        out[(slice(None),) + tuple(o)] += x[(slice(None),) + i] @ weight[(slice(None),) * 2 + k]
  return out + bias


def reference_video(ref, z):
  def tower(x, layers):
    for (w, b, s, p), stats in layers:
      x = torch_full_conv(x, w, b, s, p)
      if stats is not None:  # eval mode: running statistics (read from running_std for cudnn)
        scale, shift, mean, var = stats
        x = np.maximum((x - mean) / np.sqrt(var + 1e-5) * scale + shift, 0)
    return x
  background = np.tanh(tower(z[:, None, None, :], ref["bg"]))
  hidden = tower(z[:, None, None, None, :], ref["fg"])
  foreground = np.tanh(torch_full_conv(hidden, *ref["fg_out"]))
  mask = 1 / (1 + np.exp(-torch_full_conv(hidden, *ref["mask_out"])))
  return mask * foreground + (1 - mask) * background[:, None]


@pytest.mark.parametrize("cuda", [False, True])
def test_a_main_lua_t7_converts_and_samples_the_same_video(tmp_path, cuda):
  rng = np.random.default_rng(0)
  net, ref = main_lua_generator(rng, cuda)
  save(tmp_path / "net.t7", net)
  workdir = tmp_path / "converted"
  shapes = convert.convert_vgan_t7(str(tmp_path / "net.t7"), str(workdir))
  assert shapes == {"z_dim": Z, "g_channels": list(C), "clip": [8, 16, 16],
                    "discriminator": ""}  # none beside it: D freshly initialised
  model = jaxvid.load(str(workdir))
  z = rng.normal(size=(2, Z)).astype(np.float32)
  ours = model._sample(jax.numpy.asarray(z), True)["video"]  # running statistics (generate.lua)
  np.testing.assert_allclose(np.asarray(ours), reference_video(ref, z), atol=2e-4)
  assert model.generate(3, running_stats=True).shape == (3, 8, 16, 16, 3)


@pytest.mark.parametrize("cuda", [False, True])
def test_the_released_discriminator_converts_beside_its_generator(tmp_path, cuda):
  """main.lua saves iterN_net.t7 and iterN_netD.t7: both convert, D's two-way softmax as our
  one logit; its real-probability equals main.lua's on the same clips."""
  rng = np.random.default_rng(2)
  net, _ = main_lua_generator(rng, cuda)
  net_d, ref_d = main_lua_discriminator(rng, (4, 8), cuda)
  save(tmp_path / "iter5_net.t7", net)
  save(tmp_path / "iter5_netD.t7", net_d)
  shapes = convert.convert_vgan_t7(str(tmp_path / "iter5_net.t7"), str(tmp_path / "w"))
  assert shapes["discriminator"] == str(tmp_path / "iter5_netD.t7")
  from jaxvid import checkpoint as ckpt_lib
  config = ckpt_lib.load_config(str(tmp_path / "w"))
  trainer = get_trainer(config)
  _, state = ckpt_lib.load_latest(trainer, str(tmp_path / "w"))  # training state: D included
  video = rng.uniform(-1, 1, (2, 8, 16, 16, 3)).astype(np.float32)
  logit = trainer.discriminator.apply({"params": state.d_params,
                                       "batch_stats": state.d_batch_stats}, video, train=False)
  np.testing.assert_allclose(1 / (1 + np.exp(-np.asarray(logit))),
                             reference_d_real_probability(ref_d, video), atol=1e-4)
  with pytest.raises(UserError, match="does not exist"):
    convert.convert_vgan_t7(str(tmp_path / "iter5_net.t7"), str(tmp_path / "w2"),
                            discriminator=str(tmp_path / "none.t7"))


def test_cli_converts_and_refuses_bad_inputs(tmp_path):
  net, _ = main_lua_generator(np.random.default_rng(1))
  save(tmp_path / "net.t7", net)
  run = lambda *a: subprocess.run([sys.executable, "-m", "jaxvid.convert", *a], cwd=REPO,
                                  capture_output=True, text=True, timeout=300)
  result = run("vgan-t7", str(tmp_path / "net.t7"), f"--workdir={tmp_path / 'w'}")
  assert result.returncode == 0 and "clips 8x16x16" in result.stdout, result.stderr[-2000:]
  result = run("vgan-t7", str(tmp_path / "net.t7"), f"--workdir={tmp_path / 'w'}")
  assert result.returncode == 1 and "already holds checkpoints" in result.stderr
  (tmp_path / "bad.t7").write_bytes(b"\x07\x00\x00\x00garbage")
  result = run("vgan-t7", str(tmp_path / "bad.t7"), f"--workdir={tmp_path / 'x'}")
  assert result.returncode == 1 and "error:" in result.stderr and "Traceback" not in result.stderr
  assert run("nonsense").returncode == 2


def test_vgg19_converter_keeps_torchvision_keys(tmp_path):
  arrays = {"features.0.weight": np.zeros((64, 3, 3, 3), np.float32),
            "features.0.bias": np.zeros(64, np.float32), "classifier.0.weight": np.zeros(2)}
  np.savez(tmp_path / "in.npz", **arrays)
  assert convert.convert_vgg19(str(tmp_path / "in.npz"), str(tmp_path / "out.npz")) == 1
  with np.load(tmp_path / "out.npz") as f:
    assert set(f.files) == {"features.0.weight", "features.0.bias"}
  with pytest.raises(UserError, match="no 'features"):
    np.savez(tmp_path / "none.npz", other=np.zeros(1))
    convert.convert_vgg19(str(tmp_path / "none.npz"), str(tmp_path / "o2.npz"))
  # a random file, the input as the output, an existing output: one line each, nothing written
  (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(1000))
  with pytest.raises(UserError, match="random.npz: not a torchvision VGG19"):
    convert.convert_vgg19(str(tmp_path / "random.npz"), str(tmp_path / "o3.npz"))
  with pytest.raises(UserError, match="one of this command's inputs"):
    convert.convert_vgg19(str(tmp_path / "in.npz"), str(tmp_path / "in.npz"), overwrite=True)
  with pytest.raises(UserError, match="--overwrite"):
    convert.convert_vgg19(str(tmp_path / "in.npz"), str(tmp_path / "out.npz"))
  assert convert.convert_vgg19(str(tmp_path / "in.npz"), str(tmp_path / "out.npz"),
                               overwrite=True) == 1
  assert not (tmp_path / "o3.npz").exists()


def _first_weight(net):
  """The first module of a main_lua_generator tree that has a weight tensor."""
  stack = [net]
  while stack:
    module = stack.pop(0)
    if "weight" in module.fields:
      return module
    stack.extend(module.fields.get("modules", []))
  raise AssertionError("no weight")


@pytest.mark.parametrize("craft,says", [
    ({"storage_size": 4}, "reaches outside its storage of 4 values"),  # heap memory read
    ({"strides": [1 << 40] * 5}, "reaches outside"),  # a segmentation fault
    ({"strides": [-1, 1, 1, 1, 1], "offset": 1}, "reaches outside"),  # before the storage
    ({"offset": -7}, "offset -7"),
])
def test_a_crafted_t7_tensor_is_one_error_and_converts_nothing(tmp_path, craft, says):
  """torchfile made its views with as_strided from the file's own sizes and strides: a weight
  whose storage was cut to 4 floats converted into 636 values of process memory (issue 44)."""
  net, _ = main_lua_generator(np.random.default_rng(3))
  weight = _first_weight(net).fields["weight"]
  assert weight.array.ndim == 5  # the foreground's first (3-D) transposed convolution
  _first_weight(net).fields["weight"] = Tensor(weight.array, weight.class_name, **craft)
  save(tmp_path / "net.t7", net)
  with pytest.raises(UserError, match="damaged or crafted Torch7 file") as error:
    convert.convert_vgan_t7(str(tmp_path / "net.t7"), str(tmp_path / "w"))
  assert says in str(error.value)
  assert not (tmp_path / "w").exists()
  import torchfile  # its own readers are back once the file is read
  assert torchfile.type_handlers[b"torch.FloatTensor"].__module__ == "torchfile"
