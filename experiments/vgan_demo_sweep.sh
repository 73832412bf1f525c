#!/usr/bin/env bash
# Which demo settings of configs/vgan.py learn fastest, measured on a GPU in one call:
#   bash benchmarks/vgan_demo_sweep.sh              # on the GPU machine; results under $OUT
#   SMOKE=1 bash benchmarks/vgan_demo_sweep.sh      # the same plumbing on a CPU, tiny runs
# Trains several variants of the CPU demo at once, each for TRAIN_S seconds of wall time
# (SIGTERM: the loop saves its step), checkpoints every 2,400 steps, then writes the I3D
# features of 256 samples at chosen steps (experiments/vgan_features.py); FVD and intervals are
# computed from them afterwards (`python3 -m experiments.vgan_features --fvd=DIR` on the
# unpacked features.npz). SET=budget (default) or SET=upsample picks the variants. The steps a
# 10-minute run on 2 CPU cores reaches (benchmarks/models.py, 2026-11-26): ~5,000 at the demo's
# batch 8, ~9,000 at batch 4 or at half the widths, ~15,000 at both.
set -u
OUT=${OUT:-/tmp/jaxvid_sweep}; mkdir -p "$OUT/features"
LOG="$OUT/log.txt"
export PYTHONUNBUFFERED=1 JAX_COMPILATION_CACHE_DIR=/tmp/jax_cache
start=$(date +%s)
say() { echo "=== $* (t=$(( $(date +%s) - start )) s)" | tee -a "$LOG"; }
quiet() { grep -v "^W1\|^I1\|^WARNING: All log\|examples/s\|splits/s"; }
if [ "${SMOKE:-0}" = 1 ]; then
  # 16 frames: FVD's I3D takes >= 9
  base="--config=configs/vgan.py:tiny --config.data.frames=16"; TRAIN_S=${TRAIN_S:-40}; every=2; steps=2,4; num=4
else
  base="--config=configs/vgan.py"; TRAIN_S=${TRAIN_S:-270}; every=2400; steps=4800,9600,19200; num=256
fi
if [ "${SMOKE:-0}" != 1 ] && compgen -G ".whl/*.whl" > /dev/null; then  # (the GPU's Python)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/jaxvid_site .whl/*.whl 2>&1 | tail -2
fi
export PYTHONPATH="$PWD:$PWD/benchmarks:/tmp/jaxvid_site:$PWD/.whl/i3d"
nvidia-smi --query-gpu=name,memory.total --format=csv 2>&1 | tee -a "$LOG"
common="--config.data.data_dir=/tmp/jaxvid_tfds --config.train.num_steps=1000000
  --config.train.checkpoint_every=$every --config.train.max_to_keep=100
  --config.train.sample_every=$(( every * 2 )) --config.train.video_format=gif"
declare -A variants
if [ "${SET:-budget}" = budget ]; then  # steps, batch, widths, learning rate, averaging
  variants=(
    [demo]=""
    [b4]="--config.train.batch_size=4"
    [b4half]="--config.train.batch_size=4 --config.vgan.g_channels=(64,32,16) --config.vgan.d_channels=(16,32,64)"
    [half]="--config.vgan.g_channels=(64,32,16) --config.vgan.d_channels=(16,32,64)"
    [lr4e4]="--config.optim.learning_rate=4e-4"
    [ema]="--config.vgan.ema_decay=0.999"
  )
else  # SET=upsample: the generator's stride-2 layers (config.vgan.upsample)
  variants=(
    [resize]="--config.vgan.upsample=resize"
    [resize_out]="--config.vgan.upsample=resize_out"
    [resize_b4]="--config.vgan.upsample=resize --config.train.batch_size=4"
    [resize_ema]="--config.vgan.upsample=resize --config.vgan.ema_decay=0.999"
  )
fi
if [ "${SMOKE:-0}" = 1 ]; then
  variants[half]="--config.vgan.g_channels=(8,4) --config.vgan.d_channels=(4,8)"
  variants[b4half]="--config.train.batch_size=2 ${variants[half]}"
fi
say "the dataset, built once before the runs share it"
timeout 120 python3 -m jaxvid.main $base $common --config.train.num_steps=1 \
  --workdir=/tmp/jaxvid_sweep_build 2>&1 | quiet | tail -3 | tee -a "$LOG"
say "training ${!variants[*]} side by side for $TRAIN_S s each"
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.12
for name in "${!variants[@]}"; do
  timeout -s TERM "$TRAIN_S" python3 -m jaxvid.main $base $common ${variants[$name]} \
    --workdir=/tmp/jaxvid_sweep/$name > "$OUT/train_$name.log" 2>&1 &
done
wait
for name in "${!variants[@]}"; do
  echo "$name: $(grep -c . /tmp/jaxvid_sweep/$name/metrics.jsonl 2>/dev/null) logged steps," \
    "checkpoints $(ls /tmp/jaxvid_sweep/$name/checkpoints 2>/dev/null | tr '\n' ' ')" | tee -a "$LOG"
  tail -1 /tmp/jaxvid_sweep/$name/metrics.jsonl 2>/dev/null | cut -c1-300 | tee -a "$LOG"
done
say "I3D features at steps $steps"
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.6
workdirs=$(for name in "${!variants[@]}"; do printf "/tmp/jaxvid_sweep/%s," "$name"; done)
# few files come back from the GPU machine: the features in one .npz (--pack), logs and the
# newest sample grid of each run in one tar
timeout 200 python3 -m experiments.vgan_features --workdirs="${workdirs%,}" --steps=$steps \
  --num=$num --out="$OUT/features" --pack="$OUT/features.npz" 2>&1 | quiet | tee -a "$LOG"
rm -rf "$OUT/features"
(cd /tmp && tar czf "$OUT/runs.tar.gz" jaxvid_sweep/*/metrics.jsonl jaxvid_sweep/*/config.json \
  $(for d in jaxvid_sweep/*/samples; do ls "$d"/*.gif | tail -1; done) 2>/dev/null)
mv "$OUT"/train_*.log /tmp/ 2>/dev/null; (cd /tmp && tar czf "$OUT/train_logs.tar.gz" train_*.log)
say "done"
