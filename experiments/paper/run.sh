#!/usr/bin/env bash
# The paper's figures (docs/paper.md), one recipe each: the sweep specs beside this script
# (each with a quick and a full size), run by `lpt sweep` (resumable: finished points are kept),
# and drawn by analysis/paper_figures.py, which also prints the numbers docs/paper.md quotes.
#
# Usage: bash experiments/paper/run.sh [--quick|--full] [FIGURE ...]
#   FIGURE: f1 (loss, serial / parallel / adaptive, GPT, BERT, ViT, translation), f2 (gradient
#   error, cosine, bias, per layer; the f1 runs), f3 (residual and convergence factor along
#   training, replayed checkpoints), f4 (error against iterations x cfactor/levels), f5 (bias
#   against batches averaged), f6 (speedup against ranks: measured here, predicted beyond; needs
#   an idle machine), f7 (ViT and BERT fine-tuned after serial / parallel / adaptive pretraining),
#   f8 (translation's loss and BLEU with BPE subwords: serial, parallel, serial_forward),
#   f8long (what BLEU serial translation reaches in 6000 quick steps; quick only).
#   Default: all of them. --quick (default) runs on a 2-core machine; measured on an idle one:
#   F1 27 min (translation 16 of them), F7 28.5 beyond F1's runs, F8 27, f8long 14, each other
#   figure 7 or less (docs/paper.md); --full is the research codes' scale, for a cluster (its
#   specs ask for 8 ranks per layer-parallel point: SWEEP_FLAGS="--mpi 16 -j 2" changes that).
# Environment: LPT (default ./build/lpt), FIGDIR (default docs/figures/paper for --quick,
#   runs/paper/full/figures for --full), SWEEP_FLAGS (extra lpt sweep flags).
# Needs a build (bash scripts/build.sh) and the data (bash scripts/prepare_data.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
size=quick
figs=()
for a in "$@"; do
  a=${a,,}  # F1 and f1 alike
  case $a in
    --quick) size=quick ;;
    --full) size=full ;;
    f1 | f2 | f3 | f4 | f5 | f6 | f7 | f8 | f8long) figs+=("$a") ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$a'" >&2; usage >&2; exit 2 ;;
  esac
done
(( ${#figs[@]} )) || figs=(f1 f2 f3 f4 f5 f6 f7 f8 f8long)
LPT=${LPT:-./build/lpt}
PY=/usr/bin/python3
[[ -x $LPT ]] || { echo "run.sh: no lpt at $LPT; build it first (bash scripts/build.sh)" >&2; exit 1; }
if [[ $size == quick ]]; then figdir=${FIGDIR:-docs/figures/paper}; else figdir=${FIGDIR:-runs/paper/full/figures}; fi
mkdir -p "$figdir" runs/paper
tables=runs/paper/$size-tables.md

# One sweep at this size (or at the size named by the second argument, a spec's extra size);
# a sweep already finished only rewrites its summary.
sweep() {
  local sz=${2:-$size}
  echo "== lpt sweep experiments/paper/$1.json --size $sz" >&2
  # shellcheck disable=SC2086
  "$LPT" sweep "experiments/paper/$1.json" --size "$sz" --no-tty ${SWEEP_FLAGS:-} \
    || { echo "run.sh: sweep $1 had failed points (runs/paper/$1/$sz/sweep_status.json)" >&2; exit 1; }
}
draw() {  # figure, sweep name, PNG stem[, size]
  local sz=${4:-$size}
  echo "== $1 from runs/paper/$2/$sz" >&2
  { echo; echo "### $1: $2 ($sz)"; echo; } >> "$tables"
  "$PY" analysis/paper_figures.py "$1" "runs/paper/$2/$sz" -o "$figdir/$3.png" \
    --title "$1 ($sz): $2" | tee -a "$tables"
}

# F6: calibrate this machine at the recipe's shape (per-layer times at every micro-batch size the
# plans may use, and a profile with the MPI link between two ranks), time the modes, predict.
f6_timings() {
  local d=runs/paper/f6_gpt/$size cfg=experiments/paper/configs/gpt.json shape
  mkdir -p "$d"
  local sets=()
  [[ $size == full ]] && sets=(--set model.d_model=384 --set model.heads=6 --set model.d_ff=1536
                               --set model.seq_len=128 --set train.batch=32)
  shape=$("$LPT" train --config "$cfg" "${sets[@]}" --print-config | "$PY" -c '
import json, sys
c = json.load(sys.stdin); m, t = c["model"], c["train"]
print(m["d_model"], m["heads"], m["d_ff"], m["seq_len"], t["batch"])')
  read -r D H F S B <<< "$shape"
  local L=2 NS=16,32,64 G=2
  [[ $size == full ]] && L=3 NS=64,128,256 G=8
  local mpi=(mpirun -np 2)
  [[ $(id -u) == 0 ]] && mpi=(mpirun --allow-run-as-root -np 2)
  local measured=()
  for b in $B $((B / 2)) $((B / 4)) $((B / 8)) $((B / 16)); do
    (( b >= 1 )) || continue
    local f=$d/layer_times_b$b.json
    if [[ ! -s $f ]]; then
      echo "== lpt calibrate at micro-batch $b" >&2
      if [[ $b == "$B" ]]; then
        "${mpi[@]}" "$LPT" calibrate --config "$cfg" "${sets[@]}" --set train.batch="$b" \
          --set train.threads=1 --out "$f" --profile-out "$d/profile.json" > "$d/calibrate_b$b.log" 2>&1
      else
        "$LPT" calibrate --config "$cfg" "${sets[@]}" --set train.batch="$b" --set train.threads=1 \
          --out "$f" > "$d/calibrate_b$b.log" 2>&1
      fi
    fi
    measured+=("$f")
  done
  sweep f6_gpt
  local m
  m=$(IFS=,; echo "${measured[*]}")
  "$LPT" predict --plans --profile "$d/profile.json" --measured "$m" --family gpt --d "$D" \
    --heads "$H" --dff "$F" --seq "$S" --vocab 256 --precision fp32 --global-batch "$B" \
    --fwd-iters 2 --bwd-iters 1 --layers 16,32,64,128,256,512,1024 \
    --ranks 2,4,8,16,32,64,128,256,512 --json "$d/plans.json" > "$d/plans.txt"
  # The same plans with the MGRIT settings the measured runs used (no search), for measured
  # against predicted at the ranks this machine has.
  "$LPT" predict --plans --profile "$d/profile.json" --measured "$m" --family gpt --d "$D" \
    --heads "$H" --dff "$F" --seq "$S" --vocab 256 --precision fp32 --global-batch "$B" \
    --fwd-iters 2 --bwd-iters 1 --no-search --levels "$L" --cfactors 4 --layers "$NS" \
    --ranks "$G" --no-crossover --json "$d/plans_as_run.json" > "$d/plans_as_run.txt"
  draw f6 f6_gpt f6_gpt
}

for f in "${figs[@]}"; do
  case $f in
    f1 | f2)
      for fam in gpt bert vit mt; do
        sweep "f1_$fam"
        draw "$f" "f1_$fam" "${f}_$fam"
      done ;;
    f3 | f4 | f5)
      sweep f1_gpt
      sweep "${f}_gpt"
      draw "$f" "${f}_gpt" "${f}_gpt" ;;
    f6)
      f6_timings ;;
    f8)  # translation's loss and BLEU with BPE subwords: serial / parallel / serial_forward
      sweep f8_mt
      draw f8 f8_mt f8_mt ;;
    f8long)  # what BLEU serial training reaches in 6000 steps: its own target, because F8 and
      # it together exceed a figure's 30-minute quick budget
      if [[ $size == quick ]]; then
        sweep f8_mt quick_serial_long
        draw f8 f8_mt f8_mt_serial_long quick_serial_long
      else
        echo "run.sh: f8long has no full size (F8's full size is long already); skipped" >&2
      fi ;;
    f7)  # ViT: Fashion-MNIST -> digits; BERT: english masked LM -> fortune topics
      sweep f1_vit
      sweep f7_pretrain_vit
      sweep f7_vit
      draw f7 f7_vit f7_vit
      sweep f1_bert
      sweep f7_pretrain_bert
      sweep f7_bert
      draw f7 f7_bert f7_bert ;;
  esac
done
echo "figures in $figdir; their numbers in $tables" >&2
