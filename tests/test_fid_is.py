"""FID and video IS loading code, on random weights written as PyTorch state dicts."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvid.errors import UserError
from jaxvid.metrics import fid_is
from jaxvid.models import inception


def _to_torch_npz(variables, path):
  """Our variables as a PyTorch state dict would hold them (the inverse of the loader)."""
  state = {}

  def walk(tree, prefix, kind):
    for name, sub in tree.items():
      key = f"{prefix}{name}"
      if isinstance(sub, dict):
        walk(sub, key + ".", kind)
        continue
      value = np.asarray(sub)
      if name == "kernel":
        value = np.moveaxis(value, (-1, -2), (0, 1)) if value.ndim > 2 else value.T
      torch = {"kernel": "weight", "bias": "bias", "scale": "weight", "mean": "running_mean",
               "var": "running_var"}[name]
      state[f"{prefix[:-1]}.{torch}"] = value

  walk(variables["params"], "", "params")
  if "batch_stats" in variables:
    walk(variables["batch_stats"], "", "stats")
  np.savez(path, **state)
  return state


def test_inception_score_bounds():
  assert fid_is.inception_score(np.zeros((10, 5))) == pytest.approx(1.0)
  one_hot = np.eye(5)[np.arange(10) % 5] * 50.0
  assert fid_is.inception_score(one_hot) == pytest.approx(5.0, rel=1e-3)


def _random_variables(model, shape, seed=0):
  """Random weights of `model`'s shapes without compiling its init (a big network's init is as
  slow to compile as its forward pass): kernels N(0, 1/fan_in), BatchNorm mean 0, var 1."""
  abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape)))
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name = getattr(path[-1], "key", "")
    if name == "kernel":
      return (rng.normal(size=leaf.shape) / np.sqrt(np.prod(leaf.shape[:-1]))).astype(np.float32)
    if name in ("scale", "var"):
      return np.ones(leaf.shape, np.float32)
    return (0.1 * rng.normal(size=leaf.shape)).astype(np.float32) if name == "bias" else \
        np.zeros(leaf.shape, np.float32)
  return jax.tree_util.tree_map_with_path(fill, abstract)


def test_fid_features_from_a_torch_state_dict(tmp_path):
  model = inception.InceptionV3()
  variables = _random_variables(model, (1, 299, 299, 3))
  state = _to_torch_npz(variables, tmp_path / "inception.npz")
  assert "Mixed_7c.branch3x3dbl_3b.bn.running_var" in state
  assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
  features = fid_is.FIDFeatures(str(tmp_path / "inception.npz"), batch_size=2)
  images = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3))
  f = features(images)
  assert f.shape == (2, 2048) and np.isfinite(f).all()
  ours = jax.jit(model.apply)(variables, jax.image.resize(
      jnp.asarray(images, jnp.float32), (2, 299, 299, 3), "bilinear", antialias=False))
  np.testing.assert_allclose(f, ours, rtol=1e-4, atol=1e-5)
  assert fid_is.fid(f, f) == pytest.approx(0.0, abs=1e-3)


def test_c3d_from_a_torch_state_dict_and_bad_files(tmp_path):
  model = inception.C3D(num_classes=7)
  variables = _random_variables(model, (1, 16, 112, 112, 3), seed=1)
  state = _to_torch_npz(variables, tmp_path / "c3d.npz")
  assert state["fc6.weight"].shape == (4096, 8192) and state["conv3a.weight"].shape[2:] == (3, 3, 3)
  logits = fid_is.C3DLogits(str(tmp_path / "c3d.npz"), num_classes=7, batch_size=2)
  out = logits(np.zeros((2, 16, 32, 32, 3)))
  assert out.shape == (2, 7) and np.isfinite(out).all()
  assert fid_is.inception_score(out) >= 1.0
  with pytest.raises(ValueError, match="16 frames"):
    logits(np.zeros((1, 8, 32, 32, 3)))
  with pytest.raises(UserError, match="does not exist"):
    fid_is.C3DLogits(str(tmp_path / "nope.npz"))
  del state["fc8.bias"]
  np.savez(tmp_path / "broken.npz", **state)
  with pytest.raises(UserError, match="missing fc8.bias"):
    fid_is.C3DLogits(str(tmp_path / "broken.npz"), num_classes=7)


def _pytorch_fid_inception():
  """pytorch-fid's inception module, or skip (torch and pytorch-fid are test-only extras)."""
  torch = pytest.importorskip("torch")
  pytest.importorskip("pytorch_fid")
  import importlib.util
  import os
  spec = importlib.util.find_spec("torchvision")
  if spec is None:
    pytest.skip("torchvision is not installed")
  # A torchvision built for another torch build (the registry's, here) cannot load its C ops
  # and then fails on two of their schemas; the Python modules pytorch-fid uses need no ops.
  extension = [f for f in os.listdir(os.path.dirname(spec.origin)) if f.startswith("_C.")]
  try:
    torch.ops.load_library(os.path.join(os.path.dirname(spec.origin), extension[0]))
  except (OSError, IndexError, RuntimeError):
    if not hasattr(torch.ops.torchvision, "nms"):
      lib = torch.library.Library("torchvision", "DEF")
      lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
      lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
      _pytorch_fid_inception.keep = lib  # the definitions live as long as the library object
  from pytorch_fid import inception as fid_inception
  return torch, fid_inception


def test_fid_inception_equals_pytorch_fids_network(tmp_path, monkeypatch):
  """Our variant='fid' Inception against pytorch-fid's own torch network (FIDInceptionA/C/E:
  padding left out of the average pools, a max pool in Mixed_7c) on random weights and
  inputs; torchvision's variant gives other features."""
  torch, fid_inception = _pytorch_fid_inception()
  import torchvision
  # random weights instead of the FID checkpoint download
  monkeypatch.setattr(fid_inception, "load_state_dict_from_url", lambda *a, **k: None)
  monkeypatch.setattr(torchvision.models.Inception3, "load_state_dict", lambda self, sd: None)
  torch.manual_seed(0)
  network = fid_inception.fid_inception_v3().eval()
  for module in network.modules():
    if isinstance(module, torch.nn.BatchNorm2d):
      module.running_mean.uniform_(-0.2, 0.2)
      module.running_var.uniform_(0.5, 1.5)
      module.weight.data.uniform_(0.5, 1.5)
      module.bias.data.uniform_(-0.2, 0.2)
  monkeypatch.setattr(fid_inception, "fid_inception_v3", lambda: network)
  theirs_net = fid_inception.InceptionV3([3], resize_input=False, normalize_input=False,
                                         use_fid_inception=True).eval()
  images = torch.rand(2, 3, 299, 299) * 2 - 1
  with torch.no_grad():
    theirs = theirs_net(images)[0][:, :, 0, 0].numpy()
  np.savez(tmp_path / "pt_inception.npz",
           **{k: v.numpy() for k, v in network.state_dict().items()})
  x = jnp.asarray(images.permute(0, 2, 3, 1).numpy())
  outputs = {}
  for variant in ("fid", "torchvision"):
    model = inception.InceptionV3(variant)
    variables = inception.load_torch_npz(model, (1, 299, 299, 3), str(tmp_path / "pt_inception.npz"))
    outputs[variant] = np.asarray(jax.jit(model.apply)(variables, x))
  scale = np.abs(theirs).max()
  np.testing.assert_allclose(outputs["fid"], theirs, rtol=1e-3, atol=1e-4 * scale)
  assert np.abs(outputs["torchvision"] - theirs).max() > 1e-2 * scale
