#!/usr/bin/env bash
# Issue 44's reader goal: generate, evaluate and jaxvid.load in a loop beside a training that
# checkpoints every step, for SECONDS (default 120); then the training must have finished and
# every checkpoint it left must restore. Usage: experiments/readers_beside_training.sh [DIR]
set -uo pipefail
DIR=${1:-runs/readers_beside_training}
SECONDS_TO_RUN=${SECONDS_TO_RUN:-120}
rm -rf "$DIR/run" "$DIR/out"
mkdir -p "$DIR/out"
python -m jaxvid.main --config=configs/vgan_cond.py:tiny --workdir="$DIR/run" \
  --config.train.num_steps=100000 --config.train.checkpoint_every=1 \
  --config.train.sample_every=100000 --config.train.log_every=50 > "$DIR/train.log" 2>&1 &
TRAIN=$!
until ls "$DIR/run/checkpoints" 2>/dev/null | grep -q '^[0-9]*$'; do sleep 1; done
END=$((SECONDS + SECONDS_TO_RUN)); n=0; failed=0
while [ $SECONDS -lt $END ]; do
  n=$((n + 1))
  python - "$DIR/out/photo.png" <<'PY' 2>/dev/null
import sys, numpy as np
from PIL import Image
Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)).save(sys.argv[1])
PY
  python -m jaxvid.generate --workdir="$DIR/run" --image="$DIR/out/photo.png" \
    --output="$DIR/out/g$n" --noprogress > "$DIR/out/g$n.log" 2>&1 || failed=$((failed + 1))
  python -m jaxvid.evaluate --workdir="$DIR/run" --metrics=ssim,psnr --num_videos=2 \
    --output="$DIR/out/e$n.json" --noprogress --nocache > "$DIR/out/e$n.log" 2>&1 \
    || failed=$((failed + 1))
  python -c "import jaxvid; print(jaxvid.load('$DIR/run').step)" > "$DIR/out/l$n.log" 2>&1 \
    || failed=$((failed + 1))
done
kill -TERM $TRAIN; wait $TRAIN; rc=$?
echo "readers: $n rounds of generate + evaluate + load, $failed failed; training exit $rc"
tail -2 "$DIR/train.log"
python - "$DIR/run" <<'PY'
import sys, os
from jaxvid import checkpoint as ckpt_lib
from jaxvid.trainers import get_trainer
run = sys.argv[1]
config = ckpt_lib.load_config(run)
steps = sorted(int(d) for d in os.listdir(os.path.join(run, "checkpoints")) if d.isdigit())
left = [d for d in os.listdir(os.path.join(run, "checkpoints")) if not d.isdigit()]
for step in steps:
  assert ckpt_lib.load_latest(get_trainer(config), run, step=step)[0] == step
print(f"checkpoints {steps} all restore; other entries: {left or 'none'}")
PY
