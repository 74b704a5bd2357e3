#!/usr/bin/env bash
# Builds lpt with AddressSanitizer and UndefinedBehaviorSanitizer into build-asan/ and runs a short
# suite under them: the unit tests (not the long or MPI ones) and the fuzz script at a small size.
# A full build (about 10+ minutes on 2 cores), so it is not on CI's default path; run it by hand:
#   bash scripts/sanitize.sh            # LPT_FUZZ_CASES=N for a longer fuzz campaign
# Extra args go to cmake. Any sanitizer report halts the process and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
# Leaks are not errors here: OpenMPI and OpenMP keep their allocations until exit by design.
# allocator_may_return_null: a corrupted checkpoint makes HDF5 itself ask malloc for absurd sizes
# (2^49 bytes, seen in the bit-flip test); without ASan malloc returns NULL, HDF5 reports an error
# and lpt refuses the file, so ASan must answer the same way instead of aborting.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export LPT_FUZZ_CASES=${LPT_FUZZ_CASES:-10}
(cd "$BUILD_DIR" && ctest -j "$(nproc)" -LE "long|mpi" --output-on-failure --timeout 1200)
