#!/usr/bin/env bash
# Prepares lpt's data sets from installed Debian packages (bash scripts/setup.sh installs them).
# Usage: bash scripts/prepare_data.sh [--out DIR] [--only NAME...] [--force]
#   NAME: english en_es fashion_mnist digits fortunes (default: all). DIR: $LPT_DATA_DIR, else <repo>/data.
# Idempotent: a data set whose meta.json checksums still match is skipped. Format: docs/data.md.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${LPT_DATA_DIR:-$root/data}"
names=()
force=()
all=(english en_es fashion_mnist digits fortunes)

usage() { sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case "$1" in
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --only)
      shift
      while (($#)) && [[ "$1" != --* ]]; do names+=("$1"); shift; done
      ((${#names[@]})) || { echo "prepare_data: --only needs at least one name" >&2; exit 2; } ;;
    --force) force=(--force); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "prepare_data: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
((${#names[@]})) || names=("${all[@]}")
for n in "${names[@]}"; do
  [[ " ${all[*]} " == *" $n "* ]] || { echo "prepare_data: unknown data set '$n' (one of: ${all[*]})" >&2; exit 2; }
done

mkdir -p "$out"
for n in "${names[@]}"; do
  /usr/bin/python3 "$root/scripts/data/prepare.py" "$n" --out "$out" "${force[@]}"
done
