#!/usr/bin/env bash
# Peak resident memory of every rank of `lpt train` (a 64-layer GPT: d 256, 4 heads, context
# 128, batch 8) on 1, 2, 4 and 8 ranks, serial and parallel, beside two predictions: the memory
# check's estimate (train/memory_check.cpp) and `lpt predict`'s memory per rank (perfmodel), both
# for lpt's layout (each rank holds the layers it owns, issue 12). A process's fixed part
# (binary, MPI runtime, loaded data) is measured with the same run at a one-layer, width-16
# model and added to `lpt predict`'s figure, which counts the model alone. Bytes, not time:
# oversubscribed ranks are fine, and nothing here is timed.
#
#   bash bench/memory_ranks.sh [OUT.md]     (default bench/results/memory_ranks.md)
#
# Needs build/lpt and the prepared english data (bash scripts/prepare_data.sh --only english).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/memory_ranks.md}
LPT=${LPT:-build/lpt}
RANKS=${RANKS:-"1 2 4 8"}
STEPS=${STEPS:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
MPI=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
SETS=(--set model.family=gpt --set model.layers=64 --set model.d_model=256 --set model.heads=4
      --set model.d_ff=1024 --set model.seq_len=128 --set train.batch=8 --set train.steps="$STEPS"
      --set train.eval_every=0 --set monitor.every=0 --set train.threads=1
      --set output.log_every=1000 --set output.overwrite=true)
# Serial on P ranks is the layer-parallel step on one level (exact propagation from rank to rank):
# lpt predict prices it as such.
ONE=(--set solver.mgrit.forward.levels=1 --set solver.mgrit.backward.levels=1
     --set solver.mgrit.forward.iterations=1 --set solver.mgrit.backward.iterations=1)
for P in $RANKS; do
  echo "memory_ranks: the process's fixed part on $P rank(s)" >&2
  "${MPI[@]}" -np "$P" "$LPT" train "${SETS[@]}" --set model.layers="$P" --set model.d_model=16 \
    --set model.heads=1 --set model.d_ff=16 --set solver.mode=serial \
    --set output.file="$TMP/base.$P.h5" > "$TMP/base.$P.log" 2>&1 ||
    { cat "$TMP/base.$P.log" >&2; exit 1; }
done
for mode in serial parallel; do
  for P in $RANKS; do
    echo "memory_ranks: $mode on $P rank(s)" >&2
    "${MPI[@]}" -np "$P" "$LPT" train "${SETS[@]}" --set solver.mode="$mode" \
      --set output.file="$TMP/$mode.$P.h5" > "$TMP/$mode.$P.log" 2>&1 ||
      { cat "$TMP/$mode.$P.log" >&2; exit 1; }
    extra=()
    [ "$mode" = serial ] && extra=("${ONE[@]}")
    "$LPT" predict --config experiments/configs/defaults.json "${SETS[@]}" \
      --set solver.mode=parallel "${extra[@]}" --ranks "$P" --profile this_machine \
      --no-crossover --json "$TMP/predict.$mode.$P.json" > /dev/null
  done
done
/usr/bin/python3 - "$TMP" "$OUT" "$RANKS" <<'EOF'
import json, sys, platform, datetime, h5py, numpy as np
tmp, out, ranks = sys.argv[1], sys.argv[2], [int(r) for r in sys.argv[3].split()]
MiB = 1024.0 ** 2
rows = []
for mode in ("serial", "parallel"):
    for P in ranks:
        with h5py.File(f"{tmp}/base.{P}.h5", "r") as f:
            base_rss = float(np.max(np.asarray(f["/memory/peak_rss"][-1]))) / MiB
        with h5py.File(f"{tmp}/{mode}.{P}.h5", "r") as f:
            peak = np.asarray(f["/memory/peak_rss"][-1]) / MiB
            est = float(f.attrs["memory_estimate_bytes"]) / MiB
            held = (np.asarray(f["/memory/params_owned"][0]) + np.asarray(f["/memory/params_ghost"][0]))
            total = float(f["/memory/params_owned"].attrs["total"])
        with open(f"{tmp}/predict.{mode}.{P}.json") as fh:
            row = json.load(fh)["rows"][0]
        pred = row["memory_bytes"]["total"] / MiB + base_rss
        rows.append((mode, P, peak.max(), peak.min(), peak.mean(), held.max() / total, est, pred, base_rss))
first = {m: next(r[2] for r in rows if r[0] == m and r[1] == ranks[0]) for m in ("serial", "parallel")}
with open(out, "w") as o:
    o.write("# Peak memory per rank against the predictions (issue 12 items 1 and 5)\n\n")
    o.write(f"Measured {datetime.date.today()} on {platform.node()} ({platform.processor() or platform.machine()}), "
            "OpenMPI oversubscribed, 1 OpenMP thread per rank, `bash bench/memory_ranks.sh`. "
            "A 64-layer GPT (d 256, 4 heads, d_ff 1024, context 128, batch 8, byte vocabulary), "
            f"2 optimizer steps; peak = `getrusage` ru_maxrss of each rank at the end "
            "(the record's `/memory/peak_rss`). `held`: the largest share of the model's parameters "
            "one rank allocates (owned and ghost copies, `/memory/params_owned` + `params_ghost`). "
            "`estimate`: the memory check's figure for the rank that needs most. `predict`: `lpt "
            "predict --config` memory per rank on the this_machine profile (serial on P ranks as "
            "one-level solves, what lpt runs) plus `fixed`, the peak of the same command at a "
            "one-layer, width-16 model (binary, MPI runtime, data).\n\n")
    o.write("| mode | P | peak max MiB | peak min MiB | peak mean MiB | max / P=1 | held | estimate MiB | est/peak | predict MiB | predict/peak | fixed MiB |\n")
    o.write("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    for mode, P, mx, mn, mean, held, est, pred, base_rss in rows:
        o.write(f"| {mode} | {P} | {mx:.0f} | {mn:.0f} | {mean:.0f} | {mx / first[mode]:.2f} | {held:.3f} | {est:.0f} | {est / mx:.2f} | {pred:.0f} | {pred / mx:.2f} | {base_rss:.0f} |\n")
print(open(out).read())
EOF
