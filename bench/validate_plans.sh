#!/usr/bin/env bash
# The plans of `lpt predict --plans` (docs/perfmodel.md §7) against `lpt train` on this machine
# (issue 13 item 5): serial on one rank, the pipeline on 2 ranks with k = 1, 2, 4, 8 micro-batches
# (1F1B), layer-parallel MGRIT on 2 ranks, data-parallel groups D = 2 of P = 1. One command:
#
#   bash bench/validate_plans.sh [OUT_DIR]      (default bench/results/plans_validation)
#
# A fresh calibration first (`lpt calibrate --profile-out`, 2 ranks: the machine's rates and the
# MPI ping-pong); the plans are then priced from that profile (FLOP- and byte-derived layer times:
# `--plans` takes no measured layer times, which hold for one batch size only). Each mode trains
# STEPS steps of the same GPT, REPS times, interleaved; measured = median step time over steps
# 5.. of all repetitions. The MGRIT runs use XBraid's skip (the predictor's default cycle).
# ANALYSE_ONLY=1 re-tabulates OUT_DIR without running anything.
# Times are wall times on a shared 2-core machine: read the medians and the ranking, not a run.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/plans_validation}
LPT=${LPT:-build/lpt}
REPS=${REPS:-3}
STEPS=${STEPS:-30}
mkdir -p "$OUT"
MPI=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
export OMP_NUM_THREADS=1
SHAPE=(--set model.family=gpt --set model.layers=16 --set model.d_model=128 --set model.heads=4
       --set model.d_ff=512 --set model.seq_len=64 --set train.batch=16 --set train.threads=1)
RUN=(--set train.steps="$STEPS" --set train.eval_every=0 --set monitor.every=0
     --set output.log_every=100000 --set output.overwrite=true --set train.check_memory=false)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [[ ${ANALYSE_ONLY:-0} != 1 ]]; then
echo "validate_plans: calibrating" >&2
"${MPI[@]}" -np 2 "$LPT" calibrate --config experiments/configs/defaults.json "${SHAPE[@]}" \
  --reps 20 --out "$OUT/layer_times_b16.json" --profile-out "$OUT/profile.json" \
  > "$OUT/calibrate.log" 2>&1
# Layer times at every micro-batch size the modes below use (16/k for k = 1, 2, 4, 8).
for b in 8 4 2; do
  "$LPT" calibrate --config experiments/configs/defaults.json "${SHAPE[@]}" --set train.batch=$b \
    --reps 20 --out "$OUT/layer_times_b$b.json" >> "$OUT/calibrate.log" 2>&1
done

# name ranks extra-sets...
MODES=(
  "serial 1 solver.mode=serial"
  "pipeline_k1 2 solver.mode=pipeline solver.pipeline.micro_batches=1"
  "pipeline_k2 2 solver.mode=pipeline solver.pipeline.micro_batches=2"
  "pipeline_k4 2 solver.mode=pipeline solver.pipeline.micro_batches=4"
  "pipeline_k8 2 solver.mode=pipeline solver.pipeline.micro_batches=8"
  "parallel_P2 2 solver.mode=parallel solver.mgrit.forward.skip=true solver.mgrit.backward.skip=true"
  "data_D2 2 solver.mode=serial train.data_groups=2"
)
: > "$OUT/measured.jsonl"
for rep in $(seq 1 "$REPS"); do
  for m in "${MODES[@]}"; do
    read -r name np rest <<< "$m"
    sets=()
    for s in $rest; do sets+=(--set "$s"); done
    echo "validate_plans: $name, repetition $rep" >&2
    "${MPI[@]}" -np "$np" "$LPT" train --config experiments/configs/defaults.json "${SHAPE[@]}" \
      "${RUN[@]}" "${sets[@]}" --set output.file="$TMP/$name.$rep.h5" > "$TMP/$name.$rep.log" 2>&1 ||
      { cat "$TMP/$name.$rep.log" >&2; exit 1; }
    /usr/bin/python3 -c "
import h5py, json, sys
with h5py.File('$TMP/$name.$rep.h5', 'r') as f:
    t = [float(x) for x in f['/train/step_time'][5:]]
print(json.dumps({'mode': '$name', 'rep': $rep, 'step_s': t}))" >> "$OUT/measured.jsonl"
  done
done

PRED=(--profile "$OUT/profile.json" --layers 16 --global-batch 16 --d 128 --heads 4 --dff 512
      --seq 64 --vocab 256 --precision fp32 --no-crossover --no-search --levels 2 --cfactors 4
      --fwd-iters 2 --bwd-iters 1)
MEASURED=$OUT/layer_times_b16.json,$OUT/layer_times_b8.json,$OUT/layer_times_b4.json,$OUT/layer_times_b2.json
for k in 1 2 4 8; do
  "$LPT" predict --plans --ranks 2 --micro-batches "$k" "${PRED[@]}" --json "$OUT/predict_G2_k$k.json" \
    > "$OUT/predict_G2_k$k.txt"
  "$LPT" predict --plans --ranks 2 --micro-batches "$k" "${PRED[@]}" --measured "$MEASURED" \
    --json "$OUT/predict_measured_G2_k$k.json" > "$OUT/predict_measured_G2_k$k.txt"
done
fi  # ANALYSE_ONLY: the tabulation below reads what the runs above left in OUT

/usr/bin/python3 - "$OUT" <<'EOF'
import json, sys, statistics, platform, datetime
out = sys.argv[1]
meas = {}
for line in open(f"{out}/measured.jsonl"):
    r = json.loads(line)
    meas.setdefault(r["mode"], []).extend(r["step_s"])
def plans(path):
    cell = json.load(open(path))["plans"][0]
    return {p["family"]: p for p in cell["plans"] + [cell["serial"]]}
def predictions(prefix):
    pred = {}
    k1 = plans(f"{out}/{prefix}_G2_k1.json")
    pred["serial"] = k1["serial"]["time_s"]["total"]
    pred["data_D2"] = k1["data-parallel"]["time_s"]["total"]
    pred["parallel_P2"] = k1["layer-parallel"]["time_s"]["total"]
    for k in (1, 2, 4, 8):
        pred[f"pipeline_k{k}"] = plans(f"{out}/{prefix}_G2_k{k}.json")["pipeline"]["time_s"]["total"]
    return pred
order = ["serial", "pipeline_k1", "pipeline_k2", "pipeline_k4", "pipeline_k8", "parallel_P2", "data_D2"]
ms = {m: statistics.median(meas[m]) for m in order}
cols = {"profile": predictions("predict"), "measured layers": predictions("predict_measured")}
rank_m = sorted(order, key=lambda m: ms[m])
with open(f"{out}/table.md", "w") as o:
    o.write("# lpt predict --plans against lpt train (issue 13 item 5)\n\n")
    o.write(f"{datetime.date.today()}, {platform.node()}, `bash bench/validate_plans.sh`: GPT 16 layers, "
            "d 128, 4 heads, d_ff 512, context 64, global batch 16, 1 OpenMP thread per rank, "
            "OpenMPI oversubscribed on 2 cores; fresh calibration. Predicted from the profile alone "
            "(FLOP- and byte-derived layer times) and from per-layer times calibrated at each "
            "micro-batch size (16, 8, 4, 2; `--measured` list). Measured = median step time over "
            "steps 5.. of every repetition.\n\n")
    o.write("| mode | measured ms | profile ms | error | measured layers ms | error |\n|---|---|---|---|---|---|\n")
    for m in order:
        p1, p2 = cols["profile"][m], cols["measured layers"][m]
        o.write(f"| {m} | {ms[m] * 1e3:.1f} | {p1 * 1e3:.1f} | {(p1 / ms[m] - 1) * 100:+.1f} % | "
                f"{p2 * 1e3:.1f} | {(p2 / ms[m] - 1) * 100:+.1f} % |\n")
    o.write("\n")
    for name, pred in cols.items():
        med = statistics.median(abs(pred[m] / ms[m] - 1) for m in order)
        rank_p = sorted(order, key=lambda m: pred[m])
        o.write(f"From the {name}: median absolute error {med * 100:.1f} %; ranking "
                f"{'equal to' if rank_p == rank_m else 'different from'} the measured one "
                f"(predicted {', '.join(rank_p)}).\n\n")
    o.write(f"Measured ranking, fastest first: {', '.join(rank_m)}.\n")
print(open(f"{out}/table.md").read())
EOF
