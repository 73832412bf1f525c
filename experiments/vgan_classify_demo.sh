#!/usr/bin/env bash
# Issue 47's CPU demonstration of VGAN's second result: does D's unlabelled pretraining help a
# classifier that needs motion (the sprites' starting direction: 4 classes; 512 labelled clips,
# 512 held out)? Rows, two seeds each: from scratch, VGAN + linear (frozen trunk), VGAN +
# fine-tune; then the same fine-tuning from the one-stream VGAN's D and from a VGAN trained
# without DiffAugment; then the classify suite on each seed's rows.
#   bash experiments/vgan_classify_demo.sh [RUNS]        (about an hour on 2 cores)
set -euo pipefail
RUNS=${1:-runs/classify_demo}
mkdir -p "$RUNS"
train() { [ -d "$2/checkpoints" ] || python -m jaxvid.main --config="$1" --workdir="$2" "${@:3}"; }
classify() { train configs/vgan_classify.py "$@"; }
train configs/vgan.py "$RUNS/vgan"
for seed in 0 1; do
  classify "$RUNS/scratch_s$seed" --config.classify.init=random --config.seed=$seed
  classify "$RUNS/linear_s$seed" --config.classify.init_from="$RUNS/vgan" \
    --config.classify.train=head --config.seed=$seed
  classify "$RUNS/finetune_s$seed" --config.classify.init_from="$RUNS/vgan" --config.seed=$seed
done
train configs/vgan.py "$RUNS/vgan_one" --config.vgan.streams=one
train configs/vgan.py "$RUNS/vgan_noaug" --config.vgan.diffaugment=
for seed in 0 1; do
  classify "$RUNS/finetune_one_s$seed" --config.classify.init_from="$RUNS/vgan_one" \
    --config.seed=$seed
  classify "$RUNS/finetune_noaug_s$seed" --config.classify.init_from="$RUNS/vgan_noaug" \
    --config.seed=$seed
done
for seed in 0 1; do
  rows="$RUNS/scratch_s$seed,$RUNS/linear_s$seed,$RUNS/finetune_s$seed"
  rows="$rows,$RUNS/finetune_one_s$seed,$RUNS/finetune_noaug_s$seed"
  python -m jaxvid.evaluate --suite=classify --noprogress --workdir="$rows" --overwrite \
    --figure="$RUNS/confusion_s$seed.png" --output="$RUNS/classify_s$seed.json"
done
