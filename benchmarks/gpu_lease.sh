#!/usr/bin/env bash
# One call of a lent GPU machine (issues 9 and 10), prepared so that no device time is spent idle.
#
# The GPU machine has JAX on CUDA but no TensorFlow, Keras or gymnasium, and no internet: Keras 3,
# gymnasium and gym-sokoban (for its sprites) travel as wheels in .whl/, and a slice of the Boxoban
# levels (the 100k unfiltered valid levels and the first 200k of the 900k train levels) as
# .levels/boxoban_subset.tar.xz.
# Both folders are git-ignored (.git/info/exclude); make them once on this machine:
#
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl keras==3.15.1 optree==0.20.0 namex==0.1.0 gymnasium==1.4.0 farama-notifications==0.0.6
#   pip wheel --no-deps -w .whl gym-sokoban==0.0.6   # its sprites, for the paper preset's RGB frames
#   (cd ../shared/data/boxoban-levels && tar -cJf $OLDPWD/.levels/boxoban_subset.tar.xz \
#       unfiltered/valid $(ls unfiltered/train/*.txt | head -200))
#
# and call the device tool's run with carry [".whl", ".levels"], timeout_s 580, command
# `bash benchmarks/gpu_lease.sh`. What it does, under KERAS_BACKEND=jax:
#   1. the card and JAX's devices;
#   2. whole A2C training steps (acting + update) of model-free, copy-model I2A and I2A at tau=5,
#      side by side (benchmarks/bench_i2a_cost.py), for each preset in BENCH_PRESETS and each
#      dtype setting in BENCH_PRECISIONS (one bench call each, float32 first), each stopped after
#      BENCH_SECONDS;
#   3. resumes the Boxoban run TRAIN_RUN (its record results/TRAIN_RUN and its resumable
#      checkpoint TRAIN_CHECKPOINT, by default assets/pretrained/TRAIN_RUN.keras; both are checked
#      before the benches) for TRAIN_SECONDS with
#      --mixed-precision TRAIN_PRECISION (a resume may switch between off and bfloat16; if the
#      trainer fails within its first 90 s, the rest of the time goes to a float32 resume), stops it
#      with SIGINT (the trainer writes its checkpoint) and returns the run folder as
#      $OUT/TRAIN_RUN_gpu.tar, to be resumed on the CPU (see docs/results.md); the GPU's
#      utilisation is sampled every 5 s meanwhile ($OUT/gpu_util.csv);
#   4. when MF_SECONDS > 0, trains the boxoban model-free preset from scratch for MF_SECONDS, for
#      its training frames/s ($OUT/mf_boxoban_gpu_metrics.jsonl); MF_SET adds --set items, e.g. the
#      learned-planner ResNet: "model.size=resnet model.conv_filters=none model.kernel_sizes=none
#      model.strides=none a2c.num_envs=256 a2c.num_steps=20 a2c.num_minibatches=8
#      a2c.gae_lambda=0.5 a2c.vtrace=true".
# A lease's leftover time: the machine stays warm for 30 s after a call and keeps /tmp, so a second
# call made at once with CONTINUE=1 (and DEADLINE to fit the time left) skips the install and stages 1, 2
# and 4, and resumes TRAIN_RUN from the first call's checkpoint in /tmp.
# Environment: OUT (where results go), TRAIN_RUN (a folder name under results/, default
# i2a_boxoban_seed1, the Boxoban I2A's second seed; the first, i2a_boxoban, finished its 5e7 frames
# in the lease of 2026-11-26 23:01 UTC, and the model-free mf_boxoban_res6_vtrace_seed1 on the CPU
# on 2026-11-27), TRAIN_CHECKPOINT (above),
# BENCH_PRESETS (default none: "boxoban" and "paper" were both measured on 2026-11-26),
# BENCH_PRECISIONS (default "off bfloat16"), BENCH_SECONDS (default 100 per bench),
# TRAIN_SECONDS (default: all the time left; always cut so that the call ends by DEADLINE, default
# 550 s after it starts), TRAIN_PRECISION (default off: bfloat16 did not speed the host-bound GPU run, see
# docs/results.md; off after a fallback), MF_SECONDS (default 0), MF_SET (default none),
# CONTINUE=1 (above), PYTHON (default python3), SKIP_INSTALL=1 where Keras is already installed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder for results}
PYTHON=${PYTHON:-python3}
BENCH_PRESETS=${BENCH_PRESETS-}
TRAIN_RUN=${TRAIN_RUN:-i2a_boxoban_seed1}
BENCH_PRECISIONS=${BENCH_PRECISIONS-off bfloat16}
BENCH_SECONDS=${BENCH_SECONDS:-100}
DEADLINE=${DEADLINE:-550}
TRAIN_PRECISION=${TRAIN_PRECISION:-off}
TRAIN_SECONDS=${TRAIN_SECONDS:-$DEADLINE}
MF_SECONDS=${MF_SECONDS:-0}
MF_SET=${MF_SET:-}
read -ra MF_ITEMS <<<"$MF_SET"
CONTINUE=${CONTINUE:-0}
TRAIN_CHECKPOINT=${TRAIN_CHECKPOINT:-assets/pretrained/$TRAIN_RUN.keras}
case "$TRAIN_RUN" in */*|"") echo "TRAIN_RUN must be a folder name under results/, got '$TRAIN_RUN'"; exit 1;; esac
LEVELS=/tmp/boxoban-levels RUN=/tmp/${TRAIN_RUN}_gpu
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
if [ "$CONTINUE" != 1 ]; then  # fail before spending device time on installs and benches
  [ -f "results/$TRAIN_RUN/config.json" ] || { echo "no run record results/$TRAIN_RUN/config.json"; exit 1; }
  [ -f "$TRAIN_CHECKPOINT" ] || { echo "no checkpoint TRAIN_CHECKPOINT=$TRAIN_CHECKPOINT"; exit 1; }
fi
if [ "$CONTINUE" = 1 ]; then
  [ -f "$RUN/checkpoints/latest.keras" ] || { echo "CONTINUE=1: no $RUN on this machine"; exit 1; }
  SKIP_INSTALL=1 BENCH_PRESETS="" MF_SECONDS=0
  export PYTHONPATH=/tmp/site
fi
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ "$CONTINUE" != 1 ]; then  # ... and before the benches: a checkpoint the trainer can resume
  "$PYTHON" - "$TRAIN_CHECKPOINT" <<'PY' || exit 1
import sys
from i2a_keras.training.checkpoint import CheckpointError, read_training_state
path = sys.argv[1]
try:
    state, _ = read_training_state(path)
except (OSError, CheckpointError) as exc:
    sys.exit(f"TRAIN_CHECKPOINT {path}: {exc}")
if not state or state.get("inference_only"):
    sys.exit(f"TRAIN_CHECKPOINT {path} is no training checkpoint (an inference export?): nothing to resume")
print(f"TRAIN_CHECKPOINT {path}: {state.get('frames')} frames")
PY
fi
LOG="$OUT/gpu_lease.log"
exec > >(tee -a "$LOG") 2>&1

if [ "$CONTINUE" != 1 ]; then
  echo "== 1. machine ($(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$PYTHON" -c "import jax, keras; print('jax', jax.__version__, jax.devices()); print('keras', keras.__version__, keras.backend.backend())" || exit 1

  echo "== 2. cost of whole training steps, I2A vs model-free"
  for preset in $BENCH_PRESETS; do
    for precision in $BENCH_PRECISIONS; do
      timeout "$BENCH_SECONDS" "$PYTHON" benchmarks/bench_i2a_cost.py --preset "$preset" --taus 5 --copy-model \
          --repeats 3 --mixed-precision "$precision" --json "$OUT/bench_i2a_cost_${preset}_$precision.json" \
          || echo "bench $preset $precision failed: $?"
    done
  done
fi

LIMIT=$((DEADLINE - SECONDS - 30 - MF_SECONDS))  # 30 s for the checkpoint, the tar, stage 4's start
[ "$TRAIN_SECONDS" -gt "$LIMIT" ] && TRAIN_SECONDS=$LIMIT
[ -f "$RUN/precision_fallback" ] && TRAIN_PRECISION=off  # bfloat16 failed in the first call
echo "== 3. $TRAIN_RUN, resumed for $TRAIN_SECONDS s (--mixed-precision $TRAIN_PRECISION)"
if [ "$CONTINUE" != 1 ]; then
  mkdir -p "$LEVELS" && tar -xJf .levels/boxoban_subset.tar.xz -C "$LEVELS" || exit 1
  rm -rf "$RUN" && cp -r "results/$TRAIN_RUN" "$RUN" && mkdir -p "$RUN/checkpoints" \
    && cp "$TRAIN_CHECKPOINT" "$RUN/checkpoints/latest.keras" || exit 1
fi
SOURCES=("env.levels=boxoban:$LEVELS/unfiltered/train" "env.eval_levels=boxoban:$LEVELS/unfiltered/valid")
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 > "$OUT/gpu_util.csv" 2>/dev/null &
SMI=$!
START=$SECONDS
timeout -s INT "$TRAIN_SECONDS" "$PYTHON" -m i2a_keras.train --resume "$RUN" --mixed-precision "$TRAIN_PRECISION" \
    --set run.progress=false "${SOURCES[@]}"
STATUS=$?
echo "exit status $STATUS (124: the time limit's SIGINT stopped the trainer, which wrote its checkpoint)"
LEFT=$((TRAIN_SECONDS - (SECONDS - START)))
if [ "$STATUS" != 124 ] && [ "$STATUS" != 0 ] && [ "$TRAIN_PRECISION" != off ] && [ $((SECONDS - START)) -lt 90 ] && [ "$LEFT" -gt 30 ]; then
  echo "== 3b. $TRAIN_PRECISION failed at once: resuming in float32 for the remaining $LEFT s"
  touch "$RUN/precision_fallback"; TRAIN_PRECISION=off
  timeout -s INT "$LEFT" "$PYTHON" -m i2a_keras.train --resume "$RUN" --mixed-precision off \
      --set run.progress=false "${SOURCES[@]}"
  echo "exit status $?"
fi
kill "$SMI" 2>/dev/null
tail -n 3 "$RUN/metrics.jsonl"
# Files come back only up to 16 MB each: the run's end writes final.keras (the same agent and
# optimizer as latest.keras, without the random-number and pending-log state, as large) beside
# latest.keras, so only latest.keras travels back.
tar -cf "$OUT/${TRAIN_RUN}_gpu.tar" --exclude=final.keras -C /tmp "$(basename "$RUN")"

if [ "$MF_SECONDS" -gt 0 ]; then
  echo "== 4. the boxoban model-free preset, from scratch for $MF_SECONDS s"
  MF=/tmp/mf_boxoban_gpu
  timeout -s INT "$MF_SECONDS" "$PYTHON" -m i2a_keras.train model-free --preset boxoban --run-dir "$MF" \
      --mixed-precision "$TRAIN_PRECISION" --set run.progress=false run.log_interval_frames=100000 "${SOURCES[@]}" \
      "${MF_ITEMS[@]}"
  echo "exit status $?"
  cp "$MF/metrics.jsonl" "$OUT/mf_boxoban_gpu_metrics.jsonl"; tail -n 2 "$MF/metrics.jsonl"
fi
ls -la "$OUT"
