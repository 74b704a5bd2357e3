#!/usr/bin/env bash
# Installs every Debian package lpt needs. Idempotent and non-interactive: safe to run on every CI
# start and on a machine that already has everything (it then only checks).
set -euo pipefail

PKGS=(
  build-essential cmake git pkg-config
  libeigen3-dev libomp-dev
  openmpi-bin libopenmpi-dev
  libhdf5-dev libhdf5-openmpi-dev hdf5-tools
  nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas-dev
  python3-numpy python3-h5py python3-matplotlib python3-torch
  dataset-fashion-mnist python3-sklearn
  sword-text-web sword-text-sparv libsword-utils
  fortunes jargon-text
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: all ${#PKGS[@]} packages present"
