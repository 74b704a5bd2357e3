#!/usr/bin/env bash
# The adjoint solve's initial guess (issue 10, item 3; docs/controller.md "Adjoint initial guess"),
# measured on one run config for solver.adjoint_guess = zero, terminal and previous:
#   init   the gradient error at steps 0 and 1 with the float64 monitor (M = 4 batches): the full
#          layer-parallel gradient (the config's iterations), backward only (serial_forward: exact
#          forward, the config's backward iterations) and forward only (backward iterations =
#          N/cfactor: with two levels and F-relaxation that adjoint is exact);
#   train  one training run per guess with the config's monitor (float32, every 25 steps).
# Then prints both tables. Needs the prepared data and a build.
#
# Usage: bash experiments/adjoint_guess.sh [CONFIG.json] [--set key=value ...]
#   CONFIG defaults to experiments/configs/adjoint_guess_gpt32.json. Records and logs go to
#   runs/adjoint_guess/ (OUT=dir). PART=init, train, both (default) or table (no runs: print the
#   tables of earlier runs). JOBS=2 (default) runs two
#   trainings at a time (one thread each). GUESSES="zero terminal previous" picks the guesses.
set -euo pipefail
cd "$(dirname "$0")/.."
cfg=experiments/configs/adjoint_guess_gpt32.json
if [[ $# -gt 0 && $1 != --* ]]; then cfg=$1; shift; fi
out=${OUT:-runs/adjoint_guess}
part=${PART:-both}
jobs=${JOBS:-2}
guesses=${GUESSES:-zero terminal previous}
mkdir -p "$out"
layers=$(./build/lpt train --config "$cfg" "$@" --print-config |
  /usr/bin/python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["model"]["layers"] // c["solver"]["mgrit"]["backward"]["cfactor"])')
train() {  # name, then --set arguments
  local name=$1; shift
  ./build/lpt train --no-tty --config "$cfg" "$@" --set output.file="\"$out/$name.h5\"" \
    --set output.checkpoint='""' > "$out/$name.log" 2>&1
}
if [[ $part == init || $part == both ]]; then
  init=(--set train.steps=2 --set train.warmup=1 --set train.eval_every=0 --set monitor.every=1
        --set monitor.precision=float64)
  for g in $guesses; do
    train "init_${g}_full" "$@" "${init[@]}" --set solver.adjoint_guess="$g"
    train "init_${g}_bwd" "$@" "${init[@]}" --set solver.adjoint_guess="$g" \
      --set solver.mode=serial_forward
    train "init_${g}_fwd" "$@" "${init[@]}" --set solver.adjoint_guess="$g" \
      --set solver.mgrit.backward.iterations="$layers"
  done
fi
if [[ $part == train || $part == both ]]; then
  running=0
  for g in $guesses; do
    train "train_$g" "$@" --set solver.adjoint_guess="$g" &
    running=$((running + 1))
    if (( running >= jobs )); then wait -n; running=$((running - 1)); fi
  done
  wait
fi
/usr/bin/python3 - "$out" "$part" $guesses <<'PY'
import os, sys
import h5py, numpy as np
out, part, guesses = sys.argv[1], sys.argv[2], sys.argv[3:]
def mon(path, key):
    with h5py.File(path, "r") as f:
        return np.array(f["monitor/step"]), np.array(f["monitor/" + key])
if part in ("init", "both", "table"):
    print("at initialisation (float64 monitor): relative error ||g^-g||/||g|| at steps 0 | 1; "
          "bias ratio at step 0")
    print(f"{'guess':9} {'full':>21} {'backward only':>21} {'forward only':>21} {'bias full':>10}")
    for g in guesses:
        row = [g.ljust(9)]
        for kind in ("full", "bwd", "fwd"):
            _, e = mon(f"{out}/init_{g}_{kind}.h5", "rel_error")
            row.append(f"{e[0]:10.3g} | {e[1]:8.3g}")
        _, b = mon(f"{out}/init_{g}_full.h5", "bias_ratio")
        row.append(f"{b[0]:10.3g}")
        print(" ".join(row))
if part in ("train", "both", "table"):
    print("\ntraining (float32 monitor): relative error at the checks; final train loss (mean of "
          "the last 20 steps) and last validation loss")
    for g in guesses:
        p = f"{out}/train_{g}.h5"
        s, e = mon(p, "rel_error")
        _, b = mon(p, "bias_ratio")
        with h5py.File(p, "r") as f:
            loss = np.array(f["train/loss"])
            ev = np.array(f["eval/loss"]) if "eval/loss" in f else np.array([np.nan])
        print(f"{g}: rel_error " + " ".join(f"{int(a)}:{v:.3g}" for a, v in zip(s, e)))
        print(f"{g}: bias_ratio " + " ".join(f"{int(a)}:{v:.3g}" for a, v in zip(s, b)))
        print(f"{g}: final train loss {loss[-20:].mean():.4f}, val loss {ev[-1]:.4f}")
PY
