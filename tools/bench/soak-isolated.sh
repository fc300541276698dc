#!/bin/sh
# Runs a bench section (the long soak) in namespaces of its own: its own
# /run/pcscd, /tmp and loopback network, so that tests and other benches can
# use pcscd beside it for hours. As root; docs/benchmarks.md, "Soak".
#   tools/bench/soak-isolated.sh BUILD_DIR --dir /var/tmp soak -- --hours 3 --csv soak.csv
set -eu
build=${1:?usage: soak-isolated.sh BUILD_DIR BENCH_ARGS... (e.g. --dir /var/tmp soak -- --hours 3)}
shift
[ -x "$build/tools/bench/bench" ] || { echo "soak-isolated: no $build/tools/bench/bench (cmake -DSETTLE_BENCH=ON)" >&2; exit 2; }
for tool in unshare ip pcscd; do
  command -v "$tool" >/dev/null || { echo "soak-isolated: $tool is missing" >&2; exit 2; }
done
# The test harness refuses to start beside a pcscd it did not start (it looks
# for the name): this one runs under another name.
bin=$(mktemp -d /var/tmp/soak-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
cp "$(command -v pcscd)" "$bin/pcscd-soak"
printf '#!/bin/sh\nexec "%s/pcscd-soak" "$@"\n' "$bin" >"$bin/pcscd"
chmod +x "$bin/pcscd"
# shellcheck disable=SC2016 # the inner shell expands its own arguments
unshare -m -n -p -f --mount-proc sh -c '
  set -e
  ip link set lo up
  mkdir -p /run/pcscd
  mount -t tmpfs tmpfs /run/pcscd
  mount -t tmpfs tmpfs /tmp
  PATH="$1:$PATH"
  export PATH
  shift
  exec "$@"' sh "$bin" "$(cd "$build" && pwd)/tools/bench/bench" "$@"
