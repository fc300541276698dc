#!/usr/bin/env bash
# The test command: installs what is needed, builds, and runs every test
# through ctest: the full build (unit, integration, fault, end-to-end), the
# unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer, and
# the cashier-parser fuzz target for a bounded time (clang/libFuzzer).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc)

step() { printf '\n==> %s\n' "$*"; }

step "packages"
tools/setup.sh

if [ -x tools/gen-test-pki.sh ]; then
  step "test certificates"
  tools/gen-test-pki.sh "$root/build/pki"
fi

step "build (Release with assertions on, warnings are errors)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"

step "tests"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 900

step "unit tests under ASan + UBSan"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSETTLE_SANITIZE=ON -DSETTLE_UNIT_ONLY=ON >/dev/null
# Only the unit tests (and what they link): the rest is covered by the full build.
cmake --build build-asan -j "$jobs" --target $(ctest --test-dir build-asan -N -L unit | sed -n 's/.*Test *#[0-9]*: //p')
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L unit --output-on-failure -j "$jobs"

if [ -d tests/fuzz ]; then
  step "fuzzing the cashier request parser (bounded time)"
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release \
        -DSETTLE_FUZZ=ON -DSETTLE_UNIT_ONLY=ON -DSETTLE_FUZZ_SECONDS=20 >/dev/null
  # Only the fuzz targets: the rest of this clang build is not needed here.
  cmake --build build-fuzz -j "$jobs" --target $(ctest --test-dir build-fuzz -N -L fuzz | sed -n 's/.*Test *#[0-9]*: //p')
  ctest --test-dir build-fuzz -L fuzz --output-on-failure
fi

step "all tests passed"
