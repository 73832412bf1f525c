"""JAX vs PyTorch, same machine, same run: one training iteration (a D step then a G step).

  pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu
  pip install --no-deps pix2pixhd      # the PyPI package of NVIDIA's pix2pixHD code
  python -m benchmarks.pytorch_side_by_side [--vgan=configs/vgan.py] [--edn=configs/edn.py]
  python -m benchmarks.pytorch_side_by_side --torch_device=cuda --variants=eager,channels_last,compile \
      --vgan=configs/vgan.py:paper --edn=configs/edn.py:paper --json=side_by_side.json   # a GPU

* VGAN: the paper's layers written here in PyTorch (two-stream G of k4 s2 transposed convs, 3-D
  conv D with BatchNorm), at the config's widths and clip size, against jaxvid's VGAN step with
  the same layers: the config's CPU-demo stabilisers (resize-convs, spectral norm,
  DiffAugment, EMA) are switched off on the jaxvid side, so both sides do the same work.
* EDN: pix2pixHD's own GlobalGenerator and MultiscaleDiscriminator (from the `pix2pixhd`
  package) with the temporal step EDN trains (G(x_{t-1} | 0), G(x_t | G(x_{t-1})), D on the
  stacked pair, GAN + feature matching + VGG16 perceptual loss on both frames), against
  jaxvid's EDN stage-1 step at the same sizes.

Fair by construction:
* the same batch: random clips drawn once from --seed (and for EDN random poses, rendered by
  jaxvid's renderer for both), the same values on both sides (NCDHW for PyTorch);
* the same work: PyTorch's G step does not take D's weight gradients (D frozen), as jaxvid's;
* PyTorch rows: `eager` (NCDHW), `channels_last` (channels_last_3d / channels_last) and
  `compile` (torch.compile; its compilation is timed, under --compile_limit_s, so a stuck
  compile costs its row only);
* interleaved: after one warm-up call of each, `--steps` steps of jaxvid, then of each PyTorch
  row, repeated `--repeats` times in this process (benchmarks/interleave.py); each side's median
  over all its steps and the spread of its repeat medians;
* the load: the CPU time other processes took while each side was timed; a row where it
  exceeds 10 % of the machine prints a warning and no ratio (a busy machine decides the ratio).
Each dtype in --dtypes: float32 on both sides, and bfloat16 = jaxvid's `config.dtype` (bf16
compute, float32 parameters) vs PyTorch's `torch.autocast(device, torch.bfloat16)`. On CUDA both
sides use TF32 for float32 convs (their defaults) and PyTorch runs with `cudnn.benchmark`. MFU:
the model FLOPs of jaxvid's step (benchmarks/models.model_flops) over each side's time and the
device's peak (timing.py). Ratio = PyTorch time / jaxvid time (> 1: jaxvid is faster).
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import signal
import time

import numpy as np
from absl import app, flags

from benchmarks import interleave

VARIANTS = ("eager", "channels_last", "compile")


def same_batch(config, seed: int) -> dict[str, np.ndarray]:
  """One batch of the config's shapes from `seed`: clips uniform in [-1, 1] and, for EDN,
  confident random keypoints inside the frame and face boxes; both sides get these values."""
  d, b = config.data, config.train.batch_size
  rng = np.random.default_rng(seed)
  batch = {"video": rng.uniform(-1, 1, (b, d.frames, d.height, d.width, 3)).astype(np.float32)}
  if config.model == "edn":
    xy = rng.uniform(0.2, 0.8, (b, d.frames, 18, 2)) * np.array([d.width, d.height])
    batch["keypoints"] = np.concatenate([xy, np.ones((b, d.frames, 18, 1))], -1).astype(
        np.float32)
    size = config.edn.face_size
    corner = rng.uniform(0, 1, (b, d.frames, 2)) * np.array([d.width - size, d.height - size])
    batch["face_box"] = np.concatenate([corner, corner + size], -1).astype(np.float32)
  return batch


def channels_first(video: np.ndarray) -> np.ndarray:
  """(B, T, H, W, C) -> PyTorch's (B, C, T, H, W); (B, H, W, C) -> (B, C, H, W)."""
  return np.ascontiguousarray(np.moveaxis(video, -1, 1))


def jax_side_config(config):
  """The config jaxvid is timed with: VGAN's CPU-demo stabilisers off (PyTorch's side is the
  paper's layers), everything else as given."""
  config = config.copy_and_resolve_references()
  if config.model == "vgan":
    from configs.vgan import PAPER_SETTINGS
    with config.unlocked():
      config.vgan.update(PAPER_SETTINGS)
  return config


# ---------------------------------------------------------------- PyTorch VGAN

def torch_vgan(config, batch, device="cpu", variant="eager"):
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
  real = torch.from_numpy(channels_first(batch["video"])).to(device)
  if variant == "channels_last":
    gen, disc = _channels_last(torch, gen), _channels_last(torch, disc)
    real = real.contiguous(memory_format=torch.channels_last_3d)
  if variant == "compile":
    gen, disc = torch.compile(gen), torch.compile(disc)
  opt_g = torch.optim.Adam(gen.parameters(), 2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(disc.parameters(), 2e-4, betas=(0.5, 0.999))
  bce = nn.BCEWithLogitsLoss()
  size = real.shape[0]
  ones, zeros = torch.ones(size, device=device), torch.zeros(size, device=device)

  def step():
    fake, mask = gen(torch.randn(size, z, device=device))
    opt_d.zero_grad()
    loss_d = (bce(disc(real).flatten(), ones) + bce(disc(fake.detach()).flatten(), zeros))
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    _frozen(disc, True)  # G's step: D's input gradient only, as jaxvid's step
    loss_g = bce(disc(fake).flatten(), ones) + v.mask_weight * mask.abs().mean()
    loss_g.backward()
    _frozen(disc, False)
    opt_g.step()

  return step


def _channels_last(torch, module):
  """Every 5-D weight as channels_last_3d, every 4-D one as channels_last (VGAN's G mixes 2-D
  and 3-D convs, which `module.to(memory_format=...)` refuses)."""
  for p in module.parameters():
    if p.dim() in (4, 5):
      p.data = p.data.contiguous(memory_format=torch.channels_last_3d if p.dim() == 5
                                 else torch.channels_last)
  return module


def _frozen(module, frozen: bool) -> None:
  for p in module.parameters():
    p.requires_grad_(not frozen)


# ---------------------------------------------------------------- PyTorch EDN (pix2pixHD nets)

def edn_pose_maps(config, batch) -> tuple[np.ndarray, np.ndarray]:
  """The rendered skeletons of frames 0 and 1, as jaxvid's generator sees them (NHWC)."""
  from jaxvid.trainers import get_trainer
  trainer = get_trainer(config)
  return tuple(np.asarray(trainer.skeletons(batch["keypoints"][:, t])) for t in (0, 1))


def torch_edn(config, batch, device="cpu", variant="eager"):
  """batch: same_batch's, with `pose_maps` (edn_pose_maps) beside it."""
  import torch
  import torchvision
  from pix2pixhd.models import networks
  e = config.edn
  gen = networks.define_G(6, 3, e.ngf, "global", e.n_down, e.n_blocks, norm="instance")
  disc = networks.define_D(12, e.ndf, e.n_layers_d, "instance", num_D=e.num_d, getIntermFeat=True)
  vgg = torchvision.models.vgg16(weights=None).features[:26].eval()  # relu1_1 .. relu5_1
  for p in vgg.parameters():
    p.requires_grad_(False)
  gen, disc, vgg = gen.to(device), disc.to(device), vgg.to(device)
  tensor = lambda a: torch.from_numpy(channels_first(a)).to(device)
  x0, x1 = (tensor(x) for x in batch["pose_maps"])
  y0, y1 = tensor(batch["video"][:, 0]), tensor(batch["video"][:, 1])
  if variant == "channels_last":
    gen, disc, vgg = (_channels_last(torch, m) for m in (gen, disc, vgg))
    x0, x1, y0, y1 = (t.contiguous(memory_format=torch.channels_last) for t in (x0, x1, y0, y1))
  if variant == "compile":
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
    _frozen(disc, True)
    fake_out, real_out = disc(torch.cat([x0, x1, g0, g1], 1)), disc(real_in)
    fm = sum((1 / len(fake_out)) * (4 / (len(f) - 1)) * (a - r.detach()).abs().mean()
             for f, rr in zip(fake_out, real_out) for a, r in zip(f[:-1], rr[:-1]))
    loss_g = gan(fake_out, 1.0) + e.lambda_fm * fm + e.lambda_p * (vgg_loss(g0, y0)
                                                                   + vgg_loss(g1, y1))
    loss_g.backward()
    _frozen(disc, False)
    opt_g.step()

  return step


# ---------------------------------------------------------------- the run

def jax_step(config, batch):
  """(a call that runs one jaxvid train step and waits for it, model FLOPs, compile s)."""
  import jax
  from benchmarks.models import jitted_step, model_flops
  trainer, state, device_batch, step = jitted_step(config, batch)
  t0 = time.perf_counter()
  compiled = step.lower(state, device_batch).compile()
  compile_s = time.perf_counter() - t0
  flops, _ = model_flops(config, trainer, state, device_batch)
  holder = [state]

  def call():
    holder[0], metrics = compiled(holder[0], device_batch)
    jax.block_until_ready((holder[0], metrics))

  return call, flops, compile_s


class _Timeout(Exception):
  pass


def torch_side(torch, make, config, batch, f, variant, dtype, sync, cuda):
  """(a call that runs one PyTorch step, its first call's seconds) or None if it failed."""
  device_type = "cuda" if cuda else "cpu"
  try:
    torch_step = make(config, batch, f.torch_device, variant)
  except Exception as e:  # e.g. a memory format the build lacks: report it, keep the others
    print(f"pytorch {variant} {dtype}: failed to build: {type(e).__name__}: {e}"[:400])
    return None

  def call():
    if dtype == "bfloat16":  # PyTorch's mixed precision: autocast, float32 parameters
      with torch.autocast(device_type, dtype=torch.bfloat16):
        torch_step()
    else:
      torch_step()
    sync()

  def on_alarm(signum, frame):
    raise _Timeout()

  previous = signal.signal(signal.SIGALRM, on_alarm) if variant == "compile" else None
  if previous is not None:
    signal.alarm(f.compile_limit_s)
  t0 = time.perf_counter()
  try:
    call()  # torch.compile's compilation happens here
  except Exception as e:  # inductor wraps the alarm's exception in its own
    if isinstance(e, _Timeout) or "_Timeout" in str(e):
      print(f"pytorch compile {dtype}: compilation over --compile_limit_s={f.compile_limit_s}; "
            f"row skipped")
    else:
      print(f"pytorch {variant} {dtype}: failed: {type(e).__name__}: {e}"[:400])
    return None
  finally:
    if previous is not None:
      signal.alarm(0)
      signal.signal(signal.SIGALRM, previous)
      stop_compile_workers()
  return call, time.perf_counter() - t0


def stop_compile_workers() -> None:
  """Ends inductor's pool of compile worker processes. They outlive the compilation (and one
  cut off by --compile_limit_s keeps them compiling), taking CPU from every row timed after
  it: 11-14 % of 2 cores in a SMOKE run, whose later rows came out BUSY with no ratio."""
  try:
    from torch._inductor import async_compile
  except ImportError:
    return
  stop = getattr(async_compile, "shutdown_compile_workers", None)
  if stop is not None:
    stop()


def main(argv):
  del argv
  import torch
  import jax
  from jaxvid import config_defaults
  from benchmarks.timing import device_peak_tflops
  f = flags.FLAGS
  unknown = set(f.variants) - set(VARIANTS)
  if unknown:
    raise app.UsageError(f"--variants takes {', '.join(VARIANTS)}; got {', '.join(unknown)}")
  torch.set_num_threads(f.threads)
  cuda = f.torch_device.startswith("cuda")
  if cuda:
    torch.backends.cudnn.benchmark = True
  sync = torch.cuda.synchronize if cuda else (lambda: None)
  machine = (torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine())
  when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
  print(f"{when}: jax {jax.__version__} on {jax.devices()[0].device_kind}, torch "
        f"{torch.__version__} on {machine} ({os.cpu_count()} cores, {f.threads} torch threads); "
        f"{f.repeats} interleaved repeats x {f.steps} steps per side", flush=True)
  rows = []
  for label, spec, make in (("VGAN", f.vgan, torch_vgan), ("EDN stage 1", f.edn, torch_edn)):
    if not spec:
      continue
    config = config_defaults.load(spec)
    if f.batch_size:
      config.train.batch_size = f.batch_size
    config = jax_side_config(config)
    batch = same_batch(config, f.seed)
    torch_batch = ({**batch, "pose_maps": edn_pose_maps(config, batch)}  # rendered once
                   if config.model == "edn" else batch)
    for dtype in f.dtypes:
      with config.unlocked():
        config.dtype = dtype
      jax_call, flops, jax_compile_s = jax_step(config, batch)
      sides, firsts = {"jaxvid": jax_call}, {"jaxvid": jax_compile_s}
      for variant in f.variants:
        side = torch_side(torch, make, config, torch_batch, f, variant, dtype, sync, cuda)
        if side is not None:
          sides[f"pytorch {variant}"], firsts[f"pytorch {variant}"] = side
      timed = interleave.interleave(sides, f.repeats, f.steps)
      peak, _ = device_peak_tflops(dtype, f.peak_tflops)
      jax_row = timed["jaxvid"]
      for name, row in timed.items():
        if name == "jaxvid":
          continue
        is_busy = interleave.busy(jax_row["others_cpu_share"], row["others_cpu_share"])
        out = {"model": label, "config": spec, "batch": config.train.batch_size, "dtype": dtype,
               "pytorch": name.split()[1], "date": when, "machine": machine,
               "jax_version": jax.__version__, "torch_version": torch.__version__,
               "jax_device": jax.devices()[0].device_kind, "repeats": f.repeats,
               "steps": f.steps, "jax_s": jax_row["median_s"],
               "jax_spread_s": jax_row["spread_s"], "pytorch_s": row["median_s"],
               "pytorch_spread_s": row["spread_s"],
               "ratio": None if is_busy else row["median_s"] / jax_row["median_s"],
               "others_cpu_share": max(s or 0.0 for s in (jax_row["others_cpu_share"],
                                                           row["others_cpu_share"])),
               "busy": is_busy, "model_gflop": flops / 1e9, "peak_tflops": peak,
               "jax_mfu": flops / jax_row["median_s"] / 1e12 / peak,
               "pytorch_mfu": flops / row["median_s"] / 1e12 / peak,
               "jax_compile_s": firsts["jaxvid"], "pytorch_first_step_s": firsts[name]}
        rows.append(out)
        spread = lambda s: f"[{s[0]:.4f}, {s[1]:.4f}]"
        ratio = ("BUSY MACHINE: no ratio (other processes took "
                 f"{100 * out['others_cpu_share']:.0f} % of the CPU while timing)" if is_busy
                 else f"pytorch/jax {out['ratio']:5.2f}x")
        print(f"{label:12s} {spec:22s} b{out['batch']:<3d} {dtype:9s} jax {out['jax_s']:.4f} s "
              f"{spread(out['jax_spread_s'])} MFU {100 * out['jax_mfu']:4.1f}% | {name:22s} "
              f"{out['pytorch_s']:.4f} s {spread(out['pytorch_spread_s'])} MFU "
              f"{100 * out['pytorch_mfu']:4.1f}% (first step {out['pytorch_first_step_s']:.1f} "
              f"s) | {ratio}", flush=True)
      if f.json:  # after every model and dtype: a later failure keeps the earlier rows
        with open(f.json, "w") as fh:
          json.dump(rows, fh, indent=1)


if __name__ == "__main__":
  flags.DEFINE_string("vgan", "configs/vgan.py", "VGAN config[:variant] ('' to skip)")
  flags.DEFINE_string("edn", "configs/edn.py", "EDN config[:variant] ('' to skip)")
  flags.DEFINE_integer("steps", 3, "timed steps per side in each repeat")
  flags.DEFINE_integer("repeats", 3, "interleaved repeats (each side's median over all steps)")
  flags.DEFINE_integer("seed", 0, "seed of the batch both sides get")
  flags.DEFINE_integer("threads", 2, "PyTorch intra-op threads (this machine: 2 cores)")
  flags.DEFINE_integer("batch_size", 0, "override both models' batch size (0: the config's)")
  flags.DEFINE_list("dtypes", ["float32"],
                    "compute dtypes (bfloat16: jaxvid's config.dtype vs PyTorch autocast)")
  flags.DEFINE_list("variants", ["eager", "channels_last"],
                    f"PyTorch rows: {', '.join(VARIANTS)}")
  flags.DEFINE_integer("compile_limit_s", 600, "torch.compile's compilation time limit")
  flags.DEFINE_string("torch_device", "cpu", "PyTorch's device: cpu or cuda")
  flags.DEFINE_float("peak_tflops", 0.0, "override the device peak (MFU)")
  flags.DEFINE_string("json", "", "write every row to this JSON file")
  app.run(main)
