#!/usr/bin/env bash
# The main job on its embedded defaults: installs what is needed, builds, and
# runs a trial settlement of a sample outpatient visit with settlectl against
# the example policy, printed as a table.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target settlectl

echo
build/tools/settlectl/settlectl split --policy docs/examples/policy.toml < docs/examples/trial-split.json
