"""Pose-conditioned video GAN on held-out clips vs copying the first frame.

  python benchmarks/pose_gan_quality.py --workdir=runs/pose_gan

G(I, S_T) is run with each test clip's first frame and its true skeleton video; L1, PSNR and
SSIM against the real clip are reported over frames 1..T-1 (frame 0 is the input) next to the
'first frame held still' baseline, the best a model ignoring the poses can do on static scenes.
"""
from __future__ import annotations

import numpy as np
from absl import app, flags



def evaluate(workdir: str, max_clips: int) -> dict:
  import jax
  import jax.numpy as jnp

  from jaxvid import checkpoint as ckpt_lib
  from jaxvid.data import pipeline
  from jaxvid.metrics import image
  from jaxvid.trainers import get_trainer

  trainer = get_trainer(ckpt_lib.load_config(workdir))
  step, state = ckpt_lib.load_latest(trainer, workdir)
  batch = pipeline.make_sample_batch(trainer.config, max_clips)
  sample = jax.jit(trainer.sample)
  chunk = lambda i: trainer.sample_inputs(jax.random.key(i), {
      k: batch[k][i:i + 8] for k in ("video", "keypoints")})
  video = np.concatenate([np.asarray(sample(state, chunk(i))["video"])
                          for i in range(0, len(batch["video"]), 8)])
  real = batch["video"]
  still = np.broadcast_to(real[:, :1], real.shape)
  rows = {}
  for name, pred in (("first frame held still", still), (f"pose GAN (step {step})", video)):
    p, r = pred[:, 1:].reshape((-1,) + real.shape[2:]), real[:, 1:].reshape((-1,) + real.shape[2:])
    rows[name] = {"L1": float(np.mean(np.abs(p - r))), "PSNR": float(np.mean(image.psnr(p, r))),
                  "SSIM": float(np.mean(image.ssim(p, r)))}
  return {"clips": int(real.shape[0]), "rows": rows}


def main(argv):
  del argv
  report = evaluate(flags.FLAGS.workdir, flags.FLAGS.max_clips)
  print(f"{report['clips']} held-out clips, frames 1..T-1")
  print(f"{'method':32s} {'L1':>8s} {'PSNR':>8s} {'SSIM':>8s}")
  for name, r in report["rows"].items():
    print(f"{name:32s} {r['L1']:8.4f} {r['PSNR']:8.2f} {r['SSIM']:8.4f}")


if __name__ == "__main__":  # flags only here: the tests import evaluate()
  flags.DEFINE_string("workdir", "runs/pose_gan", "pose_gan training workdir")
  flags.DEFINE_integer("max_clips", 64, "test clips used at most")
  app.run(main)
