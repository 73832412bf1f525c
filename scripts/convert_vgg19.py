"""Convert torchvision's VGG19 ImageNet weights to the .npz jaxvid's perceptual loss reads.

  python scripts/convert_vgg19.py vgg19-dcbb9e9d.pth vgg19.npz
  python -m jaxvid.main --config=configs/edn.py --workdir=runs/edn \
      --config.edn.perceptual_backbone=vgg19 --config.edn.vgg19_weights=vgg19.npz

Input: a torchvision `vgg19` state dict (.pth, needs torch) or an .h5/.npz already holding
`features.N.weight` / `features.N.bias` arrays. Output keeps torchvision's keys and layouts;
jaxvid/models/vgg.py transposes (O, I, kh, kw) -> (kh, kw, I, O) when loading.
"""
import sys

import numpy as np


def main(src: str, dst: str) -> None:
  if src.endswith((".pth", ".pt")):
    import torch  # only this script needs torch
    state = torch.load(src, map_location="cpu")
    arrays = {k: v.numpy() for k, v in state.items() if k.startswith("features.")}
  else:
    with np.load(src) as f:
      arrays = {k: f[k] for k in f.files if k.startswith("features.")}
  if not arrays:
    raise SystemExit(f"{src}: no 'features.N.weight' tensors (is it a torchvision vgg19?)")
  np.savez(dst, **arrays)
  print(f"wrote {dst}: {len(arrays) // 2} conv layers")


if __name__ == "__main__":
  if len(sys.argv) != 3:
    raise SystemExit(__doc__)
  main(sys.argv[1], sys.argv[2])
