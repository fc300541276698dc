#!/usr/bin/env bash
# The README's "Trying the installed service" block, run as written: the
# package cpack makes is installed with dpkg into a throwaway overlay (own
# mount and PID namespaces), then the block's commands run there, with
# `systemctl` played by a shim (no systemd in the namespace): pcscd started
# by hand, settled as its unit would (user settled, /run/settled). Checks the
# charge, the metrics and the reconciliation report it promises.
# Usage: readme_trial.sh SOURCE_DIR BUILD_DIR VERSION
set -euo pipefail
src=$1
build=$2
version=$3
fail() { echo "FAIL: readme trial: $*"; exit 1; }

if [ "${SETTLE_TRIAL_INSIDE:-}" != 1 ]; then
  for tool in cpack dpkg unshare runuser curl pcscd; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is not installed"; exit 77; }
  done
  [ "$(id -u)" = 0 ] || { echo "SKIP: not root (dpkg -i into an overlay needs it)"; exit 77; }
  unshare --mount --pid --fork --propagation private true 2>/dev/null || { echo "SKIP: no private namespaces here"; exit 77; }
  [ -x "$build/tests/support/virtual-card" ] || fail "no $build/tests/support/virtual-card (build the tree first)"
  tmp=$(mktemp -d /tmp/settle-readme-trial.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
  cpack --config "$build/CPackConfig.cmake" -B "$tmp/out" -G DEB >"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log"; fail "cpack"; }
  arch=$(dpkg --print-architecture)
  export SETTLE_TRIAL_INSIDE=1 SETTLE_TRIAL_DEB="$tmp/out/settle_${version}_$arch.deb" SETTLE_TRIAL_TMP=$tmp
  # Every process the block starts ends with the namespace's first process.
  unshare --mount --pid --fork --mount-proc --propagation private "$0" "$@"
  exit 0
fi

# -- inside: a private /proc, and overlays over the system's folders
tmp=$SETTLE_TRIAL_TMP
scratch=$tmp/overlay
# shellcheck source=tests/package/overlay_root.sh
. "$(dirname "$0")/overlay_root.sh"
overlay_root
rm -rf /run/pcscd /run/settled
dpkg -i "$SETTLE_TRIAL_DEB" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "dpkg -i"; }

# The block, cut from the README between its heading and the end of its first ```sh fence.
block=$tmp/block.sh
awk '/^### Trying the installed service/ { on = 1 } on && /^```$/ && fence { exit }
     on && fence { print } on && /^```sh$/ { fence = 1 }' "$src/README.md" >"$block"
[ "$(wc -l <"$block")" -gt 20 ] || fail "the README's block was not found"

# The folder the block runs in: the source folder's tools, the build tree as build/.
work=$tmp/work
mkdir -p "$work"
ln -s "$src/tools" "$work/tools"
ln -s "$build" "$work/build"

systemctl() {
  case "$*" in
    "restart pcscd")
      pkill -x pcscd 2>/dev/null || true
      pcscd --foreground >/var/tmp/pcscd.log 2>&1 &
      for _ in $(seq 50); do [ -S /run/pcscd/pcscd.comm ] && return 0; sleep 0.1; done
      echo "systemctl shim: pcscd did not start" >&2; cat /var/tmp/pcscd.log >&2; return 1 ;;
    "start settled")
      # What the unit does: its runtime folder, the check, the daemon as settled.
      install -d -o settled -g settle-clients -m 2750 /run/settled
      runuser -u settled -- /usr/bin/settled --config /etc/settled/settled.toml --check-config || return 1
      runuser -u settled -- /usr/bin/settled --config /etc/settled/settled.toml >/var/tmp/settled.log 2>&1 &
      for _ in $(seq 150); do [ -S /run/settled/cashier.sock ] && return 0; sleep 0.1; done
      echo "systemctl shim: settled did not listen" >&2; cat /var/tmp/settled.log >&2; return 1 ;;
    *) echo "systemctl shim: not played here: $*" >&2; return 1 ;;
  esac
}
export -f systemctl

# The card's reader shows up a moment after the card connects to vpcd.
cd "$work"
if ! bash -euo pipefail "$block" >"$tmp/block.out" 2>&1; then
  cat "$tmp/block.out"
  echo "--- settled.log"; cat /var/tmp/settled.log 2>/dev/null || true
  echo "--- insurer-sim.log"; cat /var/tmp/insurer-sim.log 2>/dev/null || true
  fail "the README's block failed"
fi
cat "$tmp/block.out"

# -- what the block promises
grep -q '"state": *"settled"\|settled' "$tmp/block.out" || fail "no settled charge in the output"
grep -Eq '^settled_settlements_total\{mode="online",outcome="settled"\} 1$' "$tmp/block.out" \
  || fail "the metrics do not count one online settlement"
grep -Eq '^settled_line_state\{state="online"\} 1$' "$tmp/block.out" || fail "the metrics do not show the line online"
[ -s /root/recon-today.html ] || fail "no reconciliation report"
grep -q '25.00' /root/recon-today.html || fail "the report lacks the day's 25.00"
[ "$(stat -c %U /var/lib/settled/ledger.db)" = settled ] || fail "the ledger is owned by $(stat -c %U /var/lib/settled/ledger.db)"
echo "ok: the README's trial of the installed service: a settled charge, its metrics, the day's reconciliation"
