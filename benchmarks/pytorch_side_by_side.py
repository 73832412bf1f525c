"""JAX vs PyTorch, same machine, same run: one training iteration (a D step then a G step).

  pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu
  pip install --no-deps pix2pixhd      # the PyPI package of NVIDIA's pix2pixHD code
  python -m benchmarks.pytorch_side_by_side [--vgan=configs/vgan.py] [--edn=configs/edn.py]
  python -m benchmarks.pytorch_side_by_side --torch_device=cuda --torch_compile \
      --vgan=configs/vgan.py:paper --edn=configs/edn.py:paper --json=side_by_side.json   # a GPU

* VGAN: the paper's layers written here in PyTorch (two-stream G, 3-D conv D), at the config's
  widths and clip size, vs jaxvid's VGAN train step.
* EDN: pix2pixHD's own GlobalGenerator and MultiscaleDiscriminator (from the `pix2pixhd`
  package) with the temporal step EDN trains (G(x_{t-1} | 0), G(x_t | G(x_{t-1})), D on the
  stacked pair, GAN + feature matching + VGG16 perceptual loss on both frames), vs jaxvid's EDN
  stage-1 step at the same sizes.
Batches are random tensors of the config's shapes; median of --steps after one warm-up step.
Each dtype in --dtypes: float32 on both sides, and bfloat16 = jaxvid's `config.dtype` (bf16
compute, float32 parameters) vs PyTorch's `torch.autocast(device, torch.bfloat16)`. On CUDA both
sides use TF32 for float32 convs (PyTorch's and XLA's defaults) and PyTorch runs with
`cudnn.benchmark` (its autotuner, as XLA autotunes). `--torch_compile` adds a row with the
networks under `torch.compile`. MFU: the model FLOPs of jaxvid's step (benchmarks/flops.py), the
same work for both sides, over each side's step time and the device's peak (timing.py).
Prints step times and the PyTorch / JAX ratio (> 1: jaxvid is faster); --json writes every row.
"""
from __future__ import annotations

import json
import platform
import statistics
import time

from absl import app, flags


def _median_time(fn, steps, sync=lambda: None):
  """(median step time, first call's time: the warm-up, with torch.compile its compilation)."""
  t0 = time.perf_counter()
  fn()
  sync()
  first = time.perf_counter() - t0
  times = []
  for _ in range(steps):
    t0 = time.perf_counter()
    fn()
    sync()
    times.append(time.perf_counter() - t0)
  return statistics.median(times), first


# ---------------------------------------------------------------- PyTorch VGAN

def torch_vgan(config, device="cpu", compile_nets=False):
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
  gen, disc = G().to(device), nn.Sequential(*layers).to(device)
  if compile_nets:
    gen, disc = torch.compile(gen), torch.compile(disc)
  opt_g = torch.optim.Adam(gen.parameters(), 2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(disc.parameters(), 2e-4, betas=(0.5, 0.999))
  bce = nn.BCEWithLogitsLoss()
  batch = config.train.batch_size
  real = torch.rand(batch, 3, d.frames, d.height, d.width, device=device) * 2 - 1
  ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)

  def step():
    fake, mask = gen(torch.randn(batch, z, device=device))
    opt_d.zero_grad()
    loss_d = (bce(disc(real).flatten(), ones) + bce(disc(fake.detach()).flatten(), zeros))
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    loss_g = bce(disc(fake).flatten(), ones) + v.mask_weight * mask.abs().mean()
    loss_g.backward()
    opt_g.step()

  return step


# ---------------------------------------------------------------- PyTorch EDN (pix2pixHD nets)

def torch_edn(config, device="cpu", compile_nets=False):
  import torch
  import torchvision
  from pix2pixhd.models import networks
  e, d = config.edn, config.data
  gen = networks.define_G(6, 3, e.ngf, "global", e.n_down, e.n_blocks, norm="instance")
  disc = networks.define_D(12, e.ndf, e.n_layers_d, "instance", num_D=e.num_d, getIntermFeat=True)
  vgg = torchvision.models.vgg16(weights=None).features[:26].eval()  # relu1_1 .. relu5_1
  for p in vgg.parameters():
    p.requires_grad_(False)
  gen, disc, vgg = gen.to(device), disc.to(device), vgg.to(device)
  if compile_nets:
    gen, disc = torch.compile(gen), torch.compile(disc)
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
  rand = lambda: torch.rand(b, 3, d.height, d.width, device=device) * 2 - 1
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
  import jax
  from jaxvid import config_defaults
  from benchmarks.models import measure
  from benchmarks.timing import device_peak_tflops
  f = flags.FLAGS
  torch.set_num_threads(f.threads)
  cuda = f.torch_device.startswith("cuda")
  if cuda:
    torch.backends.cudnn.benchmark = True
  sync = torch.cuda.synchronize if cuda else (lambda: None)
  machine = (torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine())
  print(f"jax on {jax.devices()[0].device_kind}, torch {torch.__version__} on {machine}",
        flush=True)
  rows = []
  for label, spec, make in (("VGAN", f.vgan, torch_vgan), ("EDN stage 1", f.edn, torch_edn)):
    if not spec:
      continue
    config = config_defaults.load(spec)
    overrides = dict(o.split("=", 1) for o in f.jax_override if o)
    if f.batch_size:
      config.train.batch_size = f.batch_size
      overrides["train.batch_size"] = str(f.batch_size)
    jax_rows = {}
    # eager rows for every dtype first: torch.compile's rows take longest (its compilation)
    variants = [("eager", False)] + ([("compile", True)] if f.torch_compile else [])
    for variant, compile_nets in variants:
      for dtype in f.dtypes:
        if dtype not in jax_rows:
          jax_rows[dtype] = measure(spec, f.steps, False, {**overrides, "dtype": dtype})
        row = _torch_row(torch, make, config, f, variant, compile_nets, dtype, sync, cuda)
        if row is None:
          continue
        jax_row, (torch_s, torch_first_s, torch_peak) = jax_rows[dtype], row
        peak, _ = device_peak_tflops(dtype, f.peak_tflops)
        jax_s, flops = jax_row["step_s"], jax_row["model_flops"]
        row = {"model": label, "config": spec, "batch": config.train.batch_size, "dtype": dtype,
               "pytorch": variant, "jax_s": jax_s, "pytorch_s": torch_s,
               "ratio": torch_s / jax_s, "machine": machine, "jax_device": jax_row["device"],
               "model_gflop": flops / 1e9, "peak_tflops": peak,
               "jax_mfu": flops / jax_s / 1e12 / peak, "pytorch_mfu": flops / torch_s / 1e12 / peak,
               "jax_compile_s": jax_row["compile_s"], "pytorch_first_step_s": torch_first_s,
               "jax_peak_gib": jax_row["peak_gib"], "pytorch_peak_gib": torch_peak,
               "jax_overrides": overrides}
        rows.append(row)
        print(f"{label:12s} {spec:24s} batch {row['batch']:3d} {dtype:9s} jax {jax_s:8.4f} s "
              f"(MFU {100 * row['jax_mfu']:5.1f}%)  pytorch {variant:7s} {torch_s:8.4f} s "
              f"(MFU {100 * row['pytorch_mfu']:5.1f}%)  pytorch/jax {row['ratio']:5.2f}x",
              flush=True)
        if f.json:  # after every row: a later failure keeps the earlier ones
          with open(f.json, "w") as out:
            json.dump(rows, out, indent=1)


def _torch_row(torch, make, config, f, variant, compile_nets, dtype, sync, cuda):
  """(median step s, first step s, peak GiB or None) of PyTorch, or None if it failed."""
  torch_step = make(config, f.torch_device, compile_nets)
  device_type = "cuda" if cuda else "cpu"

  def step():
    if dtype == "bfloat16":  # PyTorch's mixed precision: autocast, float32 parameters
      with torch.autocast(device_type, dtype=torch.bfloat16):
        torch_step()
    else:
      torch_step()

  if cuda:
    torch.cuda.reset_peak_memory_stats()
  try:
    median, first = _median_time(step, f.steps, sync)
  except Exception as e:  # e.g. torch.compile failing: report it, keep the other rows
    print(f"pytorch {variant} {dtype}: failed: {type(e).__name__}: {e}"[:400], flush=True)
    return None
  return median, first, (torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else None)


if __name__ == "__main__":
  flags.DEFINE_string("vgan", "configs/vgan.py", "VGAN config[:variant] ('' to skip)")
  flags.DEFINE_string("edn", "configs/edn.py", "EDN config[:variant] ('' to skip)")
  flags.DEFINE_integer("steps", 3, "timed iterations (median)")
  flags.DEFINE_integer("threads", 2, "PyTorch intra-op threads (this machine: 2 cores)")
  flags.DEFINE_integer("batch_size", 0, "override both models' batch size (0: the config's)")
  flags.DEFINE_list("dtypes", ["float32", "bfloat16"],
                    "compute dtypes (bfloat16: jaxvid's config.dtype vs PyTorch autocast)")
  flags.DEFINE_string("torch_device", "cpu", "PyTorch's device: cpu or cuda")
  flags.DEFINE_bool("torch_compile", False, "also time PyTorch with torch.compile'd networks")
  flags.DEFINE_multi_string("jax_override", [], "dotted jaxvid config override, e.g. "
                            "edn.conv_impl=fast")
  flags.DEFINE_float("peak_tflops", 0.0, "override the device peak (MFU)")
  flags.DEFINE_string("json", "", "write every row to this JSON file")
  app.run(main)
