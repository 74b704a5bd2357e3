#!/usr/bin/env bash
# Trains each family briefly from its experiments/configs/ file (serial) and draws the curves:
# the check that every family learns on this machine. Needs the prepared data
# (bash scripts/prepare_data.sh). Records and the plot go to runs/ (override: OUT=dir).
# Usage: bash experiments/run_families.sh [STEPS]   (default 400; the default GPT runs its 1500)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-400}
out=${OUT:-runs}
mkdir -p "$out"
lpt=./build/lpt
run() {  # name, then lpt train arguments
  local name=$1; shift
  local t0=$SECONDS
  "$lpt" train --no-tty "$@" --set output.file="\"$out/$name.h5\"" --set output.checkpoint='""' \
    | grep -E "^(lpt train|eval step|done)" 
  echo "$name: wall $((SECONDS - t0)) s"
}
run gpt_default
run vit_digits --config experiments/configs/vit_digits.json --set train.steps=$steps
run vit_fashion --config experiments/configs/vit_fashion.json --set train.steps=$steps --set train.eval_every=100
run bert --config experiments/configs/bert.json --set train.steps=$steps --set train.eval_every=100
run mt --config experiments/configs/mt.json --set train.steps=$steps --set train.warmup=50 \
  --set train.eval_every=100 --set train.eval_batches=2
/usr/bin/python3 analysis/plot_loss.py "$out"/{gpt_default,vit_fashion,bert,mt,vit_digits}.h5 \
  --labels gpt_default,vit_fashion,bert,mt,vit_digits --metric -o "$out/families.png"
