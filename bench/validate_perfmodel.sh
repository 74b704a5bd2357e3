#!/usr/bin/env bash
# Validation of the performance model on this machine (docs/perfmodel.md §6): calibrate at the
# validation shape, measure layer-parallel training steps for every configuration on 1 and 2 MPI
# ranks (one thread each), predict each with `lpt predict` from the calibration, tabulate.
#
#   bench/validate_perfmodel.sh [calibrate|measure|analyse|all]   (default all)
#   BUILD_DIR (default build), OUT (default bench/results/perfmodel_validation), REPS (default 7),
#   SKIP (default 0: the trainer's default cycle; 1: XBraid's skip of the first down-cycle)
# The bench runs the trainer's cycle (solve_options) and the analysis predicts it with
# `lpt predict --config CFG --set ...`, the conversion the controller's cost oracle uses.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
OUT=${OUT:-bench/results/perfmodel_validation}
REPS=${REPS:-7}
SKIP=${SKIP:-0}
WHAT=${1:-all}
LPT=$BUILD_DIR/lpt
BENCH=$BUILD_DIR/bench/bench_mgrit_step
CFG=bench/configs/perfmodel_validation.json
MPI="mpirun --allow-run-as-root --oversubscribe --bind-to none"
export OMP_NUM_THREADS=1
mkdir -p "$OUT"

# layers levels cfactor fwd_iters bwd_iters: depth 16-128, cfactor 2-8, levels 2-4, iterations 1-3
CONFIGS=(
  "16 2 2 1 1"
  "32 2 4 2 1"
  "32 3 2 2 1"
  "64 2 8 2 1"
  "64 3 4 3 2"
  "64 4 2 2 2"
  "128 2 4 1 1"
  "128 3 4 2 1"
  "128 4 2 3 1"
)

if [[ $WHAT == calibrate || $WHAT == all ]]; then
  # Two ranks: the layer times on rank 0 plus the MPI ping-pong; the profile gets all figures.
  $MPI -np 2 "$LPT" calibrate --config "$CFG" --reps 30 --out "$OUT/layer_times.json" \
    --profile-out "$OUT/profile.json"
fi

if [[ $WHAT == measure || $WHAT == all ]]; then
  : > "$OUT/measured.jsonl"
  for c in "${CONFIGS[@]}"; do
    read -r N L M KF KB <<< "$c"
    args=(--layers "$N" --levels "$L" --cfactor "$M" --fwd-iters "$KF" --bwd-iters "$KB"
          --d 64 --heads 4 --dff 256 --seq 32 --batch 8 --vocab 256 --reps "$REPS"
          --skip "$SKIP" --json "$OUT/measured.jsonl")
    $MPI -np 1 "$BENCH" "${args[@]}" --serial
    $MPI -np 2 "$BENCH" "${args[@]}"
  done
fi

if [[ $WHAT == analyse || $WHAT == all ]]; then
  /usr/bin/python3 analysis/validate_perfmodel.py --lpt "$LPT" --dir "$OUT" --config "$CFG" \
    --markdown "$OUT/table.md" --plot "$OUT/validation.png"
fi
