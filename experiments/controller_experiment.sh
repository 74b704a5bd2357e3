#!/usr/bin/env bash
# The adaptive-controller experiment of issue 10 (docs/controller.md, "Measured"): serial,
# parallel and adaptive training of one config over several seeds, with the rule's variants, so
# that the final gap to serial and the fraction of layer-parallel steps can be tabulated and
# plotted (analysis/controller_table.py). Records and logs go to $OUT/NAME_VARIANT_sSEED.{h5,log};
# a run whose record says it finished is skipped, so the script can be rerun to fill in.
#
# Usage: bash experiments/controller_experiment.sh CONFIG.json NAME [--set key=value ...]
#   SEEDS="1 2 3" (default)   VARIANTS="serial parallel adaptive_raise adaptive_serial level" (default)
#   JOBS=2 runs at a time (one thread each), OUT=runs/controller, LPT=./build/lpt (the binary)
# Variants: serial; serial_t2 (serial on two OpenMP threads: the same run up to the ops' summation
#   order, so its gap to serial is how far rounding alone moves the final loss); parallel (fixed iterations, no checks: the same trajectory as with them);
#   adaptive_raise (the rule with action raise; "adaptive" is an alias); adaptive_serial (the rule
#   with action serial, the default); level (the earlier rule: level
#   only, no trend, no alarm, action serial); tradeoff variants eta03, eta08, h25, h100 (action
#   serial with another eta or trend horizon).
set -euo pipefail
cd "$(dirname "$0")/.."
cfg=$1 name=$2; shift 2
out=${OUT:-runs/controller}
jobs=${JOBS:-2}
seeds=${SEEDS:-1 2 3}
variants=${VARIANTS:-serial parallel adaptive_raise adaptive_serial level}
mkdir -p "$out"

variant_args() {
  case $1 in
    serial) echo "--set solver.mode=serial" ;;
    serial_t2) echo "--set solver.mode=serial --set train.threads=2" ;;
    parallel) echo "--set solver.mode=parallel --set monitor.every=0" ;;
    adaptive|adaptive_raise) echo "--set solver.mode=adaptive --set control.action=raise" ;;
    adaptive_serial) echo "--set solver.mode=adaptive --set control.action=serial" ;;
    level) echo "--set solver.mode=adaptive --set control.action=serial --set control.trend_horizon=0 --set control.alarm_growth=0" ;;
    eta03) echo "--set solver.mode=adaptive --set control.action=serial --set control.eta=0.3" ;;
    eta08) echo "--set solver.mode=adaptive --set control.action=serial --set control.eta=0.8" ;;
    h25) echo "--set solver.mode=adaptive --set control.action=serial --set control.trend_horizon=25" ;;
    h100) echo "--set solver.mode=adaptive --set control.action=serial --set control.trend_horizon=100" ;;
    *) echo "unknown variant '$1'; see the usage at the top of $0" >&2; return 1 ;;
  esac
}

run() {
  local v=$1 seed=$2; shift 2
  local base="$out/${name}_${v}_s${seed}"
  if [[ -f $base.log ]] && grep -q '^done:' "$base.log"; then return 0; fi
  local t0=$SECONDS args
  args=$(variant_args "$v")
  # shellcheck disable=SC2086
  "${LPT:-./build/lpt}" train --no-tty --config "$cfg" "$@" $args --set train.seed="$seed" \
    --set output.file="\"$base.h5\"" --set output.checkpoint='""' > "$base.log" 2>&1 ||
    echo "$name $v seed $seed: FAILED (see $base.log)"
  echo "$name $v seed $seed: $(grep '^done:' "$base.log" || tail -n 1 "$base.log") (wall $((SECONDS - t0)) s)"
}

running=0
for seed in $seeds; do
  for v in $variants; do
    run "$v" "$seed" "$@" &
    running=$((running + 1))
    if ((running >= jobs)); then wait -n || true; running=$((running - 1)); fi
  done
done
wait
