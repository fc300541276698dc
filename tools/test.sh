#!/usr/bin/env bash
# The test command: installs what is needed, builds, and runs every test
# through ctest: the full build's integration, fault and end-to-end tests and
# the simulation; the unit tests and the simulation under AddressSanitizer +
# UndefinedBehaviorSanitizer; the fuzz targets for a bounded time (clang).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc)

started=$SECONDS
# Each step with the minutes and seconds since the start, so a slow step shows.
step() { printf '\n==> [%d:%02d] %s\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$*"; }

# The ctest names of the tests with a label that are build targets (a test
# that runs a script has nothing to build).
tests_labelled() {
  ctest --test-dir "$1" -N -L "$2" | sed -n 's/.*Test *#[0-9]*: //p' |
    grep -Fx -f <(ninja -C "$1" -t targets all | sed -n 's/: phony$//p')
}

# The sanitizer and fuzz builds, and the unit tests under the sanitizers
# (while the fuzz targets compile: those tests wait on sockets and files part
# of their time). All this runs while the full build's tests run (those
# mostly wait on pcscd, the daemon and the simulator), at the lowest priority
# so that the tests keep their CPU.
side_builds() {
  # clang: it compiles this tree in about half the CPU time GCC needs (Asio,
  # Beast and coroutines at -O0), and its warnings are errors here too.
  # Line tables for the sanitizers' stack traces, not the full debug info.
  cmake -S . -B build-asan -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_CXX_FLAGS_DEBUG="-gline-tables-only" -DSETTLE_SANITIZE=ON -DSETTLE_UNIT_ONLY=ON >/dev/null
  # Only the unit tests (and what they link): the rest is covered by the full build.
  cmake --build build-asan -j "$jobs" --target $(tests_labelled build-asan unit)
  echo "side builds: the sanitizer tree built after ${SECONDS} s"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -L unit --output-on-failure -j "$jobs" >build-asan/unit-tests.log 2>&1 &
  local unit=$!
  if [ -d tests/fuzz ]; then
    cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release \
          -DSETTLE_FUZZ=ON -DSETTLE_UNIT_ONLY=ON -DSETTLE_FUZZ_SECONDS=8 >/dev/null
    # Only the fuzz targets: the rest of this clang build is not needed here.
    cmake --build build-fuzz -j "$jobs" --target $(tests_labelled build-fuzz fuzz)
    echo "side builds: the fuzz targets built after ${SECONDS} s"
  fi
  local unit_rc=0
  wait "$unit" || unit_rc=$?
  echo "side builds: unit tests under ASan + UBSan (ended after ${SECONDS} s)"
  cat build-asan/unit-tests.log
  return "$unit_rc"
}
export -f side_builds tests_labelled
export jobs

step "packages"
tools/setup.sh

# promtool checks the alert rules (monitoring_rules): taken from Debian's
# prometheus package unpacked into the build tree, the binary only (no
# Prometheus server installed or started). Without it the test says skipped.
if ! command -v promtool >/dev/null; then
  step "promtool (unpacked from Debian's prometheus package)"
  promtool_dir=$root/build/promtool
  if [ ! -x "$promtool_dir/usr/bin/promtool" ]; then
    mkdir -p "$promtool_dir"
    (cd "$promtool_dir" && apt-get download -q -o APT::Sandbox::User=root prometheus &&
      dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool && rm -f prometheus_*.deb) ||
      echo "promtool could not be fetched: monitoring_rules will be skipped"
  fi
  export PATH="$promtool_dir/usr/bin:$PATH"
fi

if [ -x tools/gen-test-pki.sh ]; then
  step "test certificates"
  tools/gen-test-pki.sh "$root/build/pki"
fi

step "build (Release with assertions on, warnings are errors)"
# The unit tests are left to the sanitizer tree (they run there, not twice);
# the simulation runs in both, with more seeds here.
# The benchmark tools are left out: no test runs them, and their compile is
# minutes of this run's budget (docs/benchmarks.md builds them).
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSETTLE_UNIT_TESTS=OFF -DSETTLE_BENCH=OFF >/dev/null
cmake --build build -j "$jobs"

step "tests (meanwhile the sanitizer and fuzz builds compile and the unit tests run under ASan + UBSan, output below)"
side_log=$root/build/side-builds.log
# A session of its own, so that a failed test run stops the whole build.
setsid nice -n 19 bash -c 'set -euo pipefail; side_builds' >"$side_log" 2>&1 &
side=$!
trap 'kill -- -"$side" 2>/dev/null || true' EXIT
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 900

step "sanitizer build, unit tests under ASan + UBSan, fuzz build (clang/libFuzzer)"
side_rc=0
wait "$side" || side_rc=$?
cat "$side_log"
# (On a failure the trap also stops what the side job left running.)
[ "$side_rc" -eq 0 ] || { echo "test.sh: the sanitizer build, its unit tests or the fuzz build failed" >&2; exit "$side_rc"; }
trap - EXIT

if [ -d tests/fuzz ]; then
  step "fuzz targets (bounded time: 8 s each, two at a time)"
  # One fuzz target per core: each still runs its full time on a core of its own.
  ctest --test-dir build-fuzz -L fuzz --output-on-failure -j "$jobs"
fi

step "all tests passed"
