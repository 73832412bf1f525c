#!/usr/bin/env bash
# The VGAN CPU demo's measurements (issue 29), on the 2-core CPU, one run after another:
#   bash experiments/vgan_demo_runs.sh [NAME ...]     # default: every run below
# Each run is `python -m jaxvid.main --config=configs/vgan.py` with the options below, timed;
# then FVD (256 held-out clips, 95 % intervals) of its last three checkpoints with
# `python -m jaxvid.evaluate --metrics=fvd` (the demo's: --baselines at its last step, and the
# vgan_streams suite). Workdirs under RUNS (default runs/); a finished run is not retrained.
set -u
RUNS=${RUNS:-runs}
declare -A options=(
  [vgan]=""                                            # the demo, seed 0
  [vgan_seed1]="--config.seed=1"                       # the demo, seed 1
  [vgan_one]="--config.vgan.streams=one"               # the paper's one-stream baseline
  [vgan_no_daug]="--config.vgan.diffaugment="          # ablations: one stabiliser off each
  [vgan_no_ema]="--config.vgan.ema_decay=0"
  [vgan_no_resize]="--config.vgan.upsample=transposed"
)
names=("$@"); [ ${#names[@]} -eq 0 ] && names=(vgan vgan_seed1 vgan_one vgan_no_daug vgan_no_ema vgan_no_resize)
log() { echo "=== $(date +%H:%M:%S) $*"; }
# every training first (their times are only meaningful on a quiet machine), then evaluations
for name in "${names[@]}"; do
  workdir=$RUNS/$name
  if [ ! -d "$workdir/checkpoints/4800" ]; then
    log "train $name"
    start=$(date +%s)
    python -m jaxvid.main --config=configs/vgan.py --workdir="$workdir" ${options[$name]} \
      2>&1 | tr '\r' '\n' | grep -E "^step .*(00|800)/|^error|samples:" | tail -4
    echo "$name: trained in $(( $(date +%s) - start )) s" | tee -a "$RUNS/vgan_demo_times.txt"
  fi
done
[ "${TRAIN_ONLY:-0}" = 1 ] && exit 0
for name in "${names[@]}"; do
  workdir=$RUNS/$name
  steps=$(ls "$workdir/checkpoints" | grep -E '^[0-9]+$' | sort -n | tail -3)
  for step in $steps; do
    extra=""
    [ "$name" = vgan ] && [ "$step" = "$(echo "$steps" | tail -1)" ] && extra="--baselines"
    log "evaluate $name step $step $extra"
    python -m jaxvid.evaluate --workdir="$workdir" --step="$step" --metrics=fvd $extra \
      --noprogress 2>&1 | grep -E "FVD|fvd|vgan|real|untrained|error" | head -8
  done
  if [ "$name" != vgan_one ]; then
    log "vgan_streams $name"
    python -m jaxvid.evaluate --suite=vgan_streams --workdir="$workdir" --nofvd --noprogress \
      2>&1 | tail -40
  fi
done
log done
