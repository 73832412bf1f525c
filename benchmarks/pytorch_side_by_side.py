"""JAX vs PyTorch, same machine, same run: one training iteration (a D step then a G step).

  pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu
  pip install --no-deps pix2pixhd      # the PyPI package of NVIDIA's pix2pixHD code
  python benchmarks/pytorch_side_by_side.py [--vgan=configs/vgan.py] [--edn=configs/edn.py]

* VGAN: the paper's layers written here in PyTorch (two-stream G, 3-D conv D), at the config's
  widths and clip size, vs jaxvid's VGAN train step.
* EDN: pix2pixHD's own GlobalGenerator and MultiscaleDiscriminator (from the `pix2pixhd`
  package) with the temporal step EDN trains (G(x_{t-1} | 0), G(x_t | G(x_{t-1})), D on the
  stacked pair, GAN + feature matching + VGG16 perceptual loss on both frames), vs jaxvid's EDN
  stage-1 step at the same sizes.
Batches are random tensors of the config's shapes; median of --steps after one warm-up step.
Each dtype in --dtypes: float32 on both sides, and bfloat16 = jaxvid's `config.dtype` (bf16
compute, float32 parameters) vs PyTorch's `torch.autocast("cpu", torch.bfloat16)`.
Prints step times and the PyTorch / JAX ratio (> 1: jaxvid is faster).
"""
from __future__ import annotations

import statistics
import time

from absl import app, flags


def _median_time(fn, steps):
  fn()
  times = []
  for _ in range(steps):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


# ---------------------------------------------------------------- PyTorch VGAN

def torch_vgan(config):
  import torch
  from torch import nn
  v, d = config.vgan, config.data
  g, dc, z = list(v.g_channels), list(v.d_channels), v.z_dim

  def up(cls, cin, cout, bn=True):
    layers = [cls(cin, cout, 4, 2, 1)]
    return layers + ([getattr(nn, "BatchNorm3d" if cls is nn.ConvTranspose3d else "BatchNorm2d")(
        cout), nn.ReLU(True)] if bn else [])

  class G(nn.Module):
    def __init__(self):
      super().__init__()
      bg = [nn.ConvTranspose2d(z, g[0], 4), nn.BatchNorm2d(g[0]), nn.ReLU(True)]
      fg = [nn.ConvTranspose3d(z, g[0], (2, 4, 4)), nn.BatchNorm3d(g[0]), nn.ReLU(True)]
      for a, b in zip(g[:-1], g[1:]):
        bg += up(nn.ConvTranspose2d, a, b)
        fg += up(nn.ConvTranspose3d, a, b)
      self.bg = nn.Sequential(*bg, nn.ConvTranspose2d(g[-1], 3, 4, 2, 1), nn.Tanh())
      self.fg = nn.Sequential(*fg)
      self.video = nn.Sequential(nn.ConvTranspose3d(g[-1], 3, 4, 2, 1), nn.Tanh())
      self.mask = nn.Sequential(nn.ConvTranspose3d(g[-1], 1, 4, 2, 1), nn.Sigmoid())

    def forward(self, noise):
      b = self.bg(noise[:, :, None, None])[:, :, None]
      h = self.fg(noise[:, :, None, None, None])
      m = self.mask(h)
      return m * self.video(h) + (1 - m) * b, m

  layers = [nn.Conv3d(3, dc[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
  for a, b in zip(dc[:-1], dc[1:]):
    layers += [nn.Conv3d(a, b, 4, 2, 1), nn.BatchNorm3d(b, eps=1e-3), nn.LeakyReLU(0.2, True)]
  n = len(dc)
  layers.append(nn.Conv3d(dc[-1], 1, (d.frames // 2 ** n, d.height // 2 ** n, d.width // 2 ** n)))
  gen, disc = G(), nn.Sequential(*layers)
  opt_g = torch.optim.Adam(gen.parameters(), 2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(disc.parameters(), 2e-4, betas=(0.5, 0.999))
  bce = nn.BCEWithLogitsLoss()
  batch = config.train.batch_size
  real = torch.rand(batch, 3, d.frames, d.height, d.width) * 2 - 1

  def step():
    fake, mask = gen(torch.randn(batch, z))
    opt_d.zero_grad()
    loss_d = (bce(disc(real).flatten(), torch.ones(batch))
              + bce(disc(fake.detach()).flatten(), torch.zeros(batch)))
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    loss_g = bce(disc(fake).flatten(), torch.ones(batch)) + v.mask_weight * mask.abs().mean()
    loss_g.backward()
    opt_g.step()

  return step


# ---------------------------------------------------------------- PyTorch EDN (pix2pixHD nets)

def torch_edn(config):
  import torch
  import torchvision
  from pix2pixhd.models import networks
  e, d = config.edn, config.data
  gen = networks.define_G(6, 3, e.ngf, "global", e.n_down, e.n_blocks, norm="instance")
  disc = networks.define_D(12, e.ndf, e.n_layers_d, "instance", num_D=e.num_d, getIntermFeat=True)
  vgg = torchvision.models.vgg16(weights=None).features[:26].eval()  # relu1_1 .. relu5_1
  for p in vgg.parameters():
    p.requires_grad_(False)
  taps, weights = (1, 6, 11, 18, 25), (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

  def vgg_loss(x, y):
    loss, fx, fy = 0.0, x, y
    start = 0
    for tap, w in zip(taps, weights):
      fx, fy = vgg[start:tap + 1](fx), vgg[start:tap + 1](fy)
      loss = loss + w * (fx - fy.detach()).abs().mean()
      start = tap + 1
    return loss

  opt_g = torch.optim.Adam(gen.parameters(), 2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(disc.parameters(), 2e-4, betas=(0.5, 0.999))
  b = config.train.batch_size
  rand = lambda: torch.rand(b, 3, d.height, d.width) * 2 - 1
  x0, x1, y0, y1 = rand(), rand(), rand(), rand()
  gan = lambda outs, real: sum(
      torch.nn.functional.binary_cross_entropy_with_logits(o[-1], torch.full_like(o[-1], real))
      for o in outs)

  def step():
    g0 = gen(torch.cat([x0, torch.zeros_like(y0)], 1))
    g1 = gen(torch.cat([x1, g0], 1))
    real_in = torch.cat([x0, x1, y0, y1], 1)
    opt_d.zero_grad()
    loss_d = gan(disc(real_in), 1.0) + gan(disc(torch.cat([x0, x1, g0.detach(), g1.detach()], 1)),
                                           0.0)
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    fake_out, real_out = disc(torch.cat([x0, x1, g0, g1], 1)), disc(real_in)
    fm = sum((1 / len(fake_out)) * (4 / (len(f) - 1)) * (a - r.detach()).abs().mean()
             for f, rr in zip(fake_out, real_out) for a, r in zip(f[:-1], rr[:-1]))
    loss_g = gan(fake_out, 1.0) + e.lambda_fm * fm + e.lambda_p * (vgg_loss(g0, y0)
                                                                   + vgg_loss(g1, y1))
    loss_g.backward()
    opt_g.step()

  return step


def main(argv):
  del argv
  import torch
  from jaxvid import config_defaults
  from models import measure  # benchmarks/models.py
  torch.set_num_threads(flags.FLAGS.threads)
  for label, spec, make in (("VGAN", flags.FLAGS.vgan, torch_vgan),
                            ("EDN stage 1", flags.FLAGS.edn, torch_edn)):
    if not spec:
      continue
    config = config_defaults.load(spec)
    overrides = {}
    if flags.FLAGS.batch_size:
      config.train.batch_size = flags.FLAGS.batch_size
      overrides["train.batch_size"] = str(flags.FLAGS.batch_size)
    torch_step = make(config)
    for dtype in flags.FLAGS.dtypes:
      jax_s = measure(spec, flags.FLAGS.steps, False, {**overrides, "dtype": dtype})["step_s"]
      if dtype == "bfloat16":  # PyTorch's mixed precision: autocast, float32 parameters
        def step(torch_step=torch_step):
          with torch.autocast("cpu", dtype=torch.bfloat16):
            torch_step()
      else:
        step = torch_step
      torch_s = _median_time(step, flags.FLAGS.steps)
      print(f"{label:12s} {spec:28s} batch {config.train.batch_size:3d} {dtype:9s} "
            f"jax {jax_s:8.3f} s  pytorch {torch_s:8.3f} s  pytorch/jax {torch_s / jax_s:5.2f}x",
            flush=True)


if __name__ == "__main__":
  flags.DEFINE_string("vgan", "configs/vgan.py", "VGAN config[:variant] ('' to skip)")
  flags.DEFINE_string("edn", "configs/edn.py", "EDN config[:variant] ('' to skip)")
  flags.DEFINE_integer("steps", 3, "timed iterations (median)")
  flags.DEFINE_integer("threads", 2, "PyTorch intra-op threads (this machine: 2 cores)")
  flags.DEFINE_integer("batch_size", 0, "override both models' batch size (0: the config's)")
  flags.DEFINE_list("dtypes", ["float32", "bfloat16"],
                    "compute dtypes (bfloat16: jaxvid's config.dtype vs PyTorch autocast)")
  app.run(main)
