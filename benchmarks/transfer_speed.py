"""Transfer throughput: frames per second of Everybody Dance Now's generator at inference, jaxvid
beside pix2pixHD's own generator (PyTorch), same machine, same size, interleaved.

  pip install torch==2.14.1 torchvision==0.29.1 && pip install --no-deps pix2pixhd
  python -m benchmarks.transfer_speed --configs=configs/dance.py:preview,configs/dance.py:paper

Per config, three rows:
  jaxvid G          stage 1's generator on one frame (pose map + previous frame, 6 channels),
                    jitted, batch 1: what transfer runs once per frame
  pytorch G         pix2pixHD's GlobalGenerator (define_G, 'global', instance norm) on the same
                    input, eval mode under torch.inference_mode, --threads intra-op threads
  jaxvid transfer   the whole per-frame loop of `jaxvid.transfer` (EDNModel.generate_chunks:
                    the skeleton drawn, G conditioned on the previous output, the face GAN when
                    the config is a face stage), per frame over a chunk
The ratio is jaxvid's frames per second over PyTorch's; rows timed while other processes took
more than a tenth of the CPU get no ratio (benchmarks/interleave.py).
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
from absl import app, flags

from benchmarks.interleave import busy, interleave

FLAGS = flags.FLAGS


def _config(spec: str):
  from jaxvid import config_defaults
  return config_defaults.load(spec)


def jax_generator(config):
  """One frame through stage 1's generator, jitted (a call that waits for the result)."""
  import jax
  from jaxvid.trainers import get_trainer
  trainer = get_trainer(config)
  state = jax.jit(trainer.init_state)(jax.random.key(0))
  d = config.data
  x = jax.numpy.asarray(np.random.default_rng(0).uniform(-1, 1, (1, d.height, d.width, 6)),
                        jax.numpy.float32)
  forward = jax.jit(lambda p, x: trainer.generator.apply({"params": p}, x))
  return lambda: forward(state.g_params, x).block_until_ready()


def jax_transfer(config, chunk: int = 8):
  """`chunk` frames of jaxvid.transfer's loop (per call): generate_chunks on dancer poses."""
  import jax
  from jaxvid.dance_stages import synthetic_batch
  from jaxvid.inference.edn import EDNModel
  from jaxvid.trainers import get_trainer
  trainer = get_trainer(config)
  state = jax.jit(trainer.init_state)(jax.random.key(0))
  model = EDNModel(config=config, trainer=trainer, state=state, step=0, workdir="")
  keypoints = synthetic_batch(config)["keypoints"][0]
  keypoints = np.concatenate([keypoints] * (-(-chunk // len(keypoints))))[:chunk]

  def call():
    for part in model.generate_chunks(keypoints, chunk):
      np.asarray(part["video"])
  return call


def torch_generator(config, threads: int):
  import torch
  from pix2pixhd.models import networks
  torch.set_num_threads(threads)
  e, d = config.edn, config.data
  gen = networks.define_G(6, 3, e.ngf, "global", e.n_down, e.n_blocks, norm="instance").eval()
  x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1, 6, d.height, d.width))
                       .astype(np.float32))

  def call():
    with torch.inference_mode():
      gen(x)
  return call


def main(argv):
  del argv
  rows = []
  for spec in FLAGS.configs:
    config = _config(spec)
    d, e = config.data, config.edn
    print(f"{spec}: {d.height}x{d.width}, G ngf {e.ngf}, {e.n_down} down, {e.n_blocks} blocks"
          f"{' + face GAN' if e.stage == 2 else ''}", flush=True)
    sides = {"jaxvid G": jax_generator(config)}
    try:
      sides["pytorch G"] = torch_generator(config, FLAGS.threads)
    except ImportError as e:
      print(f"  pytorch side skipped ({e}): pip install torch torchvision && pip install "
            f"--no-deps pix2pixhd")
    timed = interleave(sides, FLAGS.repeats, FLAGS.steps)
    whole = interleave({"jaxvid transfer": jax_transfer(config, FLAGS.chunk)}, FLAGS.repeats, 1)
    timed["jaxvid transfer"] = whole["jaxvid transfer"]
    timed["jaxvid transfer"]["median_s"] /= FLAGS.chunk  # per frame
    for name, row in timed.items():
      fps = 1.0 / row["median_s"]
      share = row["others_cpu_share"]
      print(f"  {name:16s} {fps:8.2f} frames/s  ({1e3 * row['median_s']:.1f} ms; others' CPU "
            f"{'?' if share is None else f'{100 * share:.0f} %'})", flush=True)
      rows.append({"config": spec, "side": name, "fps": fps, "median_s": row["median_s"],
                   "others_cpu_share": share, "size": [d.height, d.width]})
    if "pytorch G" in timed:
      j, t = timed["jaxvid G"], timed["pytorch G"]
      if busy(j["others_cpu_share"], t["others_cpu_share"]):
        print("  ratio: none (the machine was busy while timing)")
      else:
        print(f"  ratio jaxvid / pytorch: {t['median_s'] / j['median_s']:.2f}x", flush=True)
  if FLAGS.json:
    with open(FLAGS.json, "w") as f:
      json.dump({"rows": rows, "cpus": os.cpu_count(), "python": sys.version.split()[0]}, f,
                indent=2)


if __name__ == "__main__":
  flags.DEFINE_list("configs", ["configs/dance.py:preview", "configs/dance.py:paper"],
                    "EDN configs[:variant] (a face stage adds the face GAN to the transfer row)")
  flags.DEFINE_integer("steps", 5, "timed frames per side in each repeat")
  flags.DEFINE_integer("repeats", 3, "interleaved repeats")
  flags.DEFINE_integer("chunk", 8, "frames per call of the whole transfer loop")
  flags.DEFINE_integer("threads", 2, "PyTorch intra-op threads (this machine: 2 cores)")
  flags.DEFINE_string("json", "", "write the rows to this JSON file")
  app.run(main)
