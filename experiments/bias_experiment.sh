#!/usr/bin/env bash
# The gradient-bias experiment of issue 5 (docs/controller.md §experiments): one run config
# trained three times with the same seed and data — solver.mode serial, parallel and adaptive —
# then the loss curves, the measured gradient error and the controller's actions in one PNG.
# Needs the prepared data (bash scripts/prepare_data.sh) and a build (bash scripts/build.sh).
#
# Usage: bash experiments/bias_experiment.sh CONFIG.json [NAME] [--set key=value ...]
#   NAME defaults to the config's file name; records, logs and NAME.png go to runs/bias/
#   (override: OUT=dir). JOBS=2 (default) runs two modes at a time (one thread each); JOBS=1 runs
#   them one after another. MODES="serial parallel adaptive" (default) picks the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
cfg=$1; shift
name=$(basename "$cfg" .json)
if [[ $# -gt 0 && $1 != --* ]]; then name=$1; shift; fi
out=${OUT:-runs/bias}
jobs=${JOBS:-2}
modes=${MODES:-serial parallel adaptive}
mkdir -p "$out"
run() {
  local mode=$1; shift
  local t0=$SECONDS
  ./build/lpt train --no-tty --config "$cfg" "$@" --set solver.mode="$mode" \
    --set output.file="\"$out/${name}_$mode.h5\"" --set output.checkpoint='""' \
    > "$out/${name}_$mode.log" 2>&1
  echo "$name $mode: $(tail -n 2 "$out/${name}_$mode.log" | head -n 1) (wall $((SECONDS - t0)) s)"
}
running=0
for m in $modes; do
  run "$m" "$@" &
  running=$((running + 1))
  if (( running >= jobs )); then wait -n; running=$((running - 1)); fi
done
wait
files=(); labels=()
for m in $modes; do files+=("$out/${name}_$m.h5"); labels+=("$m"); done
/usr/bin/python3 analysis/plot_bias.py "${files[@]}" --labels "$(IFS=,; echo "${labels[*]}")" \
  --title "$name" -o "$out/$name.png"
/usr/bin/python3 analysis/plot_bias.py "${files[@]}" --labels "$(IFS=,; echo "${labels[*]}")" \
  --summary
