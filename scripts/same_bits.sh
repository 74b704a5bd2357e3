#!/usr/bin/env bash
# Same bits before and after a refactor (issue 11): three short GPT runs (serial, parallel,
# adaptive with checks) into OUT; with REF, each record is compared with REF's by h5diff, every
# dataset except wall-clock timings, and the script fails on the first difference.
#
#   bash scripts/same_bits.sh OUT            # record (for example before a change)
#   bash scripts/same_bits.sh OUT REF        # record again and compare with REF
#
# LPT=path/to/lpt (default build/lpt). One thread, one rank: the runs are deterministic.
set -euo pipefail
out=${1:?usage: same_bits.sh OUT [REF]}
ref=${2:-}
lpt=$(realpath "${LPT:-build/lpt}")
data=$(realpath data)
if [ ! -x "$lpt" ]; then
  echo "same_bits.sh: $lpt not found; build first (bash scripts/build.sh) or set LPT" >&2
  exit 2
fi
mkdir -p "$out"

common=(--set model.layers=8 --set model.d_model=32 --set model.heads=2 --set model.seq_len=32
        --set train.batch=4 --set train.steps=60 --set train.warmup=10 --set train.eval_every=20
        --set train.eval_batches=2 --set train.threads=1 --set model.step_size=T/N
        --set output.overwrite=true --set data.dir="$data")
declare -A modes=(
  [serial]="--set solver.mode=serial"
  [parallel]="--set solver.mode=parallel --set monitor.every=10"
  [adaptive]="--set solver.mode=adaptive --set monitor.every=10 --set control.eta=0.05"
)
# Wall-clock series and the root's attributes (start time, version, host) differ on every run;
# everything else must not. The resolved config (an attribute) is compared on its own.
timing=(/train/items_per_s /train/phase_time /train/step_time /solver/phase_time /run/starts
        /solver/forward/timers /solver/adjoint/timers /monitor/seconds)
excl=(--exclude-attribute /)
for p in "${timing[@]}"; do excl+=(--exclude-path "$p"); done

config_of() { h5dump -a /config "$1" | tail -n +2; }  # the resolved config, without the file name

status=0
for m in serial parallel adaptive; do
  # shellcheck disable=SC2086
  # Run inside OUT with a relative record name: the stored config then names the same file.
  (cd "$out" && "$lpt" train "${common[@]}" ${modes[$m]} --set output.file="$m.h5" --no-tty > "$m.log")
  if [ -n "$ref" ]; then
    if h5diff -q "${excl[@]}" "$ref/$m.h5" "$out/$m.h5" &&
       cmp -s <(config_of "$ref/$m.h5") <(config_of "$out/$m.h5"); then
      echo "$m: same bits as $ref/$m.h5"
    else
      echo "$m: DIFFERS from $ref/$m.h5 (h5diff -r ${excl[*]} $ref/$m.h5 $out/$m.h5)"
      status=1
    fi
  else
    echo "$m: recorded $out/$m.h5 ($(tail -n 1 "$out/$m.log"))"
  fi
done
exit $status
