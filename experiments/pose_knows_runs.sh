#!/usr/bin/env bash
# The Pose Knows' CPU measurements (issue 30), on the 2-core CPU, one run after another:
#   bash experiments/pose_knows_runs.sh
# 1. the branching pose-VAE (its pose_forecast suite: the diversity goals still hold?);
# 2. the default pose-VAE and the pose GAN (the pipeline; the GAN with the paper's settings
#    and as the CPU demo), timed;
# 3. the conditional VGAN on the same dancer clips (64x64, the paper's conditional widths / 4),
#    stopped after the pipeline's CPU time: the pose-VAE's + the pose GAN's CPU seconds (user +
#    system, which another job beside them changes less than wall time), by `ulimit -t`;
# 4. the pose GAN suite and the pose_knows suite (the paper's comparison), 256 held-out clips.
# Workdirs under RUNS (default runs/); a finished run is not retrained, a stopped one resumes.
# SKIP=branching,pose_gan_suite leaves those parts out.
set -u
SKIP=${SKIP:-}
skip() { [[ ",$SKIP," == *",$1,"* ]]; }
RUNS=${RUNS:-runs}
log() { echo "=== $(date +%H:%M:%S) $*"; }
times=$RUNS/pose_knows_times.txt
train() {  # NAME CONFIG [OPTIONS...]
  local name=$1 config=$2; shift 2
  if [ ! -f "$RUNS/$name/train_done" ]; then
    log "train $name"
    local start=$(date +%s)
    /usr/bin/time -f "%U %S" -o "$RUNS/$name.cpu" python -m jaxvid.main --config="$config" \
      --workdir="$RUNS/$name" "$@" 2>&1 | tr '\r' '\n' | grep -E "^error|samples:" | tail -2
    local cpu=$(awk '{printf "%d", $1 + $2}' "$RUNS/$name.cpu")
    echo "$name: trained in $(( $(date +%s) - start )) s wall, $cpu s CPU" | tee -a "$times"
    touch "$RUNS/$name/train_done"
  fi
}
cpu_of() { grep "^$1:" "$times" | tail -1 | sed -E 's/.* ([0-9]+) s CPU.*/\1/'; }

if ! skip branching; then
  train pose_vae_branching_8k configs/pose_vae.py:branching
  log "pose_forecast suite"
  python -m jaxvid.evaluate --suite=pose_forecast --workdir="$RUNS/pose_vae_branching_8k" \
    --noprogress 2>&1 | tail -16
fi
train pose_vae3 configs/pose_vae.py
# the pose GAN with the paper's settings (the default before 2026-12-04), and the CPU demo
train pose_gan3 configs/pose_gan.py --config.pose_gan.output=frames \
  --config.pose_gan.ema_decay=0 --config.pose_gan.diffaugment=
train pg_demo configs/pose_gan.py --config.train.num_steps=1000  # the VGAN's budget: 1,000 steps

budget=$(( $(cpu_of pose_vae3) + $(cpu_of pose_gan3) ))
cond=vgan_cond_dancer
if [ ! -f "$RUNS/$cond/train_done" ]; then
  log "train $cond for $budget CPU seconds (the pipeline's)"
  start=$(date +%s)
  (ulimit -t "$budget"; exec python -m jaxvid.main --config=configs/vgan_cond.py \
    --workdir="$RUNS/$cond" --config.data.name=synthetic_dancer --config.data.height=64 \
    --config.data.width=64 --config.data.frames=16 --config.train.num_steps=100000 \
    --config.train.checkpoint_every=200 --config.train.sample_every=1000 \
    --config.vgan.g_channels="(256, 128, 64, 32)" --config.vgan.encoder_channels="(32, 64, 128, 256)" \
    --config.vgan.d_channels="(32, 64, 128, 256)") 2>&1 | tr '\r' '\n' | grep -E "^error|samples:" | tail -2
  echo "$cond: trained in $(( $(date +%s) - start )) s wall, $budget s CPU, to step $(ls "$RUNS/$cond/checkpoints" | sort -n | tail -1)" | tee -a "$times"
  touch "$RUNS/$cond/train_done"
fi
if ! skip pose_gan_suite; then
  log "pose_gan suite"
  python -m jaxvid.evaluate --suite=pose_gan --workdir="$RUNS/pose_gan3" --noprogress 2>&1 | tail -6
fi
log "pose_knows suite"
for gan in pose_gan3 pg_demo; do
  python -m jaxvid.evaluate --suite=pose_knows --workdir="$RUNS/pose_vae3,$RUNS/$gan,$RUNS/$cond" \
    --num_test=256 --output="$RUNS/$gan/eval/pose_knows_256.json" --noprogress 2>&1 | tail -10
done
log done
