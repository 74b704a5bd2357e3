#!/usr/bin/env bash
# Peak resident memory of every rank of `lpt train` (a 64-layer GPT: d 256, 4 heads, context
# 128, batch 8) on 1, 2, 4 and 8 ranks, serial and parallel, beside two predictions: the memory
# check's estimate (train/memory_check.cpp: lpt's layout today, every rank holds the whole model)
# and `lpt predict`'s memory per rank (perfmodel: each rank holds only its layers, the layout
# issue 12 aims at). Bytes, not time: oversubscribed ranks are fine, and nothing here is timed.
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
for mode in serial parallel; do
  for P in $RANKS; do
    echo "memory_ranks: $mode on $P rank(s)" >&2
    "${MPI[@]}" -np "$P" "$LPT" train "${SETS[@]}" --set solver.mode="$mode" \
      --set output.file="$TMP/$mode.$P.h5" > "$TMP/$mode.$P.log" 2>&1 ||
      { cat "$TMP/$mode.$P.log" >&2; exit 1; }
    "$LPT" predict --config experiments/configs/defaults.json "${SETS[@]}" \
      --set solver.mode=parallel --ranks "$P" --profile this_machine --no-crossover \
      --json "$TMP/predict.$P.json" > /dev/null
  done
done
/usr/bin/python3 - "$TMP" "$OUT" "$RANKS" <<'EOF'
import json, sys, platform, datetime, h5py, numpy as np
tmp, out, ranks = sys.argv[1], sys.argv[2], [int(r) for r in sys.argv[3].split()]
MiB = 1024.0 ** 2
rows = []
for mode in ("serial", "parallel"):
    for P in ranks:
        with h5py.File(f"{tmp}/{mode}.{P}.h5", "r") as f:
            peak = np.asarray(f["/memory/peak_rss"][-1]) / MiB
            est = float(f.attrs["memory_estimate_bytes"]) / MiB
        with open(f"{tmp}/predict.{P}.json") as fh:
            row = json.load(fh)["rows"][0]
        pred = row["memory_bytes"]["total"] / MiB if mode == "parallel" else (
            row["serial"]["memory_bytes"]["total"] / MiB if P == 1 else float("nan"))
        rows.append((mode, P, peak.max(), peak.min(), peak.mean(), est, pred))
base = {m: next(r[2] for r in rows if r[0] == m and r[1] == ranks[0]) for m in ("serial", "parallel")}
with open(out, "w") as o:
    o.write("# Peak memory per rank against the predictions (issue 12 item 5)\n\n")
    o.write(f"Measured {datetime.date.today()} on {platform.node()} ({platform.processor() or platform.machine()}), "
            "OpenMPI oversubscribed, 1 OpenMP thread per rank, `bash bench/memory_ranks.sh`. "
            "A 64-layer GPT (d 256, 4 heads, d_ff 1024, context 128, batch 8, byte vocabulary), "
            f"2 optimizer steps; peak = `getrusage` ru_maxrss of each rank at the end "
            "(the record's `/memory/peak_rss`). `estimate`: the memory check's figure for the rank "
            "that needs most (lpt today: every rank holds the whole model). `predict`: `lpt predict "
            "--config` memory per rank on the this_machine profile (each rank only its layers: the "
            "layout issue 12 item 1 would build); serial on P > 1 ranks has no predict row.\n\n")
    o.write("| mode | P | peak max MiB | peak min MiB | peak mean MiB | max / P=1 | estimate MiB | est/peak | predict MiB | predict/peak |\n")
    o.write("|---|---|---|---|---|---|---|---|---|---|\n")
    for mode, P, mx, mn, mean, est, pred in rows:
        pr = "-" if pred != pred else f"{pred:.0f}"
        prr = "-" if pred != pred else f"{pred / mx:.2f}"
        o.write(f"| {mode} | {P} | {mx:.0f} | {mn:.0f} | {mean:.0f} | {mx / base[mode]:.2f} | {est:.0f} | {est / mx:.2f} | {pr} | {prr} |\n")
print(open(out).read())
EOF
