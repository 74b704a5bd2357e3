#!/usr/bin/env bash
# Builds and runs the default test suite (everything but the "long" label).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" -LE long
