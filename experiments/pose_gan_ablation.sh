#!/usr/bin/env bash
# The pose GAN's CPU demo and its ablation (issue 30), one run after another on the CPU:
#   bash experiments/pose_gan_ablation.sh
# Trains configs/pose_gan.py (the demo: composite output + EMA of G + DiffAugment), a second
# seed, one run per stabiliser switched off, and the paper's settings (all three off), 1,000
# steps each (the demo's default is 3,000: runs/pg_demo3000 is pg_demo resumed to 3,000); then
# the pose_gan suite of each on 256 held-out clips (--num_test=256: the clips after the training
# ones, which stay as they are). Reports in RUNS/NAME/eval/pose_gan_256.json.
# Workdirs under RUNS (default runs/); a finished run is not retrained. ONLY="a b" picks runs.
set -u
RUNS=${RUNS:-runs}
ONLY=${ONLY:-}
log() { echo "=== $(date +%H:%M:%S) $*"; }
declare -A FLAGS=(
  [pg_demo]=""
  [pg_demo_s1]="--config.seed=1"
  [pg_no_composite]="--config.pose_gan.output=frames"
  [pg_no_ema]="--config.pose_gan.ema_decay=0"
  [pg_no_daug]="--config.pose_gan.diffaugment="
  [pg_paper_settings]="--config.pose_gan.output=frames --config.pose_gan.ema_decay=0 --config.pose_gan.diffaugment="
)
ORDER="pg_demo pg_no_composite pg_no_ema pg_no_daug pg_demo_s1 pg_paper_settings"
for name in ${ONLY:-$ORDER}; do
  [ -n "${FLAGS[$name]+set}" ] || { echo "error: no run named $name (one of: $ORDER)"; exit 2; }
  if [ ! -f "$RUNS/$name/train_done" ]; then
    log "train $name ${FLAGS[$name]}"
    start=$(date +%s)
    # shellcheck disable=SC2086  # the flags are words
    python -m jaxvid.main --config=configs/pose_gan.py --workdir="$RUNS/$name" \
      --config.train.num_steps=1000 ${FLAGS[$name]} \
      2>&1 | tr '\r' '\n' | grep -E "^error|samples:" | tail -1
    [ -d "$RUNS/$name/checkpoints/1000" ] || { echo "error: $name did not reach step 1000"; exit 1; }
    echo "$name: trained in $(( $(date +%s) - start )) s wall"
    touch "$RUNS/$name/train_done"
  fi
  if [ ! -f "$RUNS/$name/eval/pose_gan_256.json" ]; then
    log "pose_gan suite $name"
    python -m jaxvid.evaluate --suite=pose_gan --workdir="$RUNS/$name" --num_test=256 \
      --output="$RUNS/$name/eval/pose_gan_256.json" --noprogress 2>&1 | tail -4
  fi
done
