#!/usr/bin/env bash
# The reader test bench for shell scripts (demos, manual checks, other test
# suites): starts pcscd in the foreground and virtual cards in the vpcd
# readers, keeps their pids in a run directory, and stops only what it started.
#
#   pcscd-harness.sh start                      start pcscd -f (refuses if another pcscd runs)
#   pcscd-harness.sh stop                       stop the cards and the pcscd started here
#   pcscd-harness.sh status
#   pcscd-harness.sh card-start N [options]     virtual card in vpcd reader N (0: TCP 32000, 1: 32001);
#                                               options as virtual-card's (--name, --id-no, --pin, ...)
#   pcscd-harness.sh card N remove|insert|status|delay MS
#   pcscd-harness.sh card-stop N
#
# Environment: SETTLE_RUN_DIR (default /tmp/settle-pcsc), VIRTUAL_CARD (the
# virtual-card binary; default: the first of build*/tests/support/virtual-card).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
run_dir="${SETTLE_RUN_DIR:-/tmp/settle-pcsc}"
mkdir -p "$run_dir"

die() { echo "pcscd-harness: $*" >&2; exit 1; }

virtual_card_bin() {
  if [ -n "${VIRTUAL_CARD:-}" ]; then echo "$VIRTUAL_CARD"; return; fi
  for b in "$repo"/build/tests/support/virtual-card "$repo"/build*/tests/support/virtual-card; do
    [ -x "$b" ] && { echo "$b"; return; }
  done
  die "virtual-card not built (cmake --build <build> --target virtual-card) and VIRTUAL_CARD not set"
}

# The pid in a pid file if that process is still the named program.
live_pid() {
  local file="$1" comm="$2" pid
  [ -f "$file" ] || return 1
  pid="$(cat "$file")"
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$comm" ] && { echo "$pid"; return 0; }
  return 1
}

stop_pid() {
  local pid="$1" i
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 500); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.01
  done
  kill -9 "$pid" 2>/dev/null || true
}

wait_readers() {
  local i
  for i in $(seq 1 500); do
    if pcsc_scan -r 2>/dev/null | grep -q "Virtual PCD 00 01"; then return 0; fi
    sleep 0.02
  done
  return 1
}

# pcscd runs with this script's own reader.conf.d: the packaged vpcd config
# listens on 35963, inside the kernel's ephemeral port range, where any
# client socket in TIME_WAIT on that port makes the reader fail to start.
vpcd_base_port=32000
write_reader_conf() {
  local lib
  lib="$(sed -n 's/^[[:space:]]*LIBPATH[[:space:]]\+//p' /etc/reader.conf.d/vpcd 2>/dev/null | head -1)"
  mkdir -p "$run_dir/reader.conf.d"
  printf 'FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x%04X\nLIBPATH      %s\nCHANNELID    0x%04X\n' \
    "$vpcd_base_port" "${lib:-/usr/lib/pcsc/drivers/serial/libifdvpcd.so}" "$vpcd_base_port" \
    >"$run_dir/reader.conf.d/vpcd"
}

cmd_start() {
  if pid="$(live_pid "$run_dir/pcscd.pid" pcscd)"; then echo "pcscd already started here (pid $pid)"; return 0; fi
  if other="$(pidof pcscd)"; then
    die "a pcscd not started by this harness is running (pid $other); stop it first"
  fi
  write_reader_conf
  setsid pcscd -f -c "$run_dir/reader.conf.d" >"$run_dir/pcscd.log" 2>&1 < /dev/null &
  echo $! >"$run_dir/pcscd.pid"
  wait_readers || { cmd_stop; die "pcscd did not list the vpcd readers within 10 s; see $run_dir/pcscd.log"; }
  echo "pcscd started (pid $(cat "$run_dir/pcscd.pid")), log $run_dir/pcscd.log"
}

card_send() {
  local n="$1"; shift
  "$(virtual_card_bin)" --control "$run_dir/card$n.sock" --send "$*"
}

cmd_card_start() {
  local n="${1:?card-start needs a reader index}"; shift
  case "$n" in 0|1) ;; *) die "reader index is 0 or 1" ;; esac
  if pid="$(live_pid "$run_dir/card$n.pid" virtual-card)"; then die "card $n already running (pid $pid)"; fi
  rm -f "$run_dir/card$n.sock"
  setsid "$(virtual_card_bin)" --port $((vpcd_base_port + n)) --control "$run_dir/card$n.sock" "$@" \
    >"$run_dir/card$n.log" 2>&1 < /dev/null &
  echo $! >"$run_dir/card$n.pid"
  local i removed=0
  for a in "$@"; do [ "$a" = "--removed" ] && removed=1; done
  for i in $(seq 1 500); do
    if [ -S "$run_dir/card$n.sock" ]; then
      [ "$removed" = 1 ] && { echo "card $n started removed (pid $(cat "$run_dir/card$n.pid"))"; return 0; }
      if card_send "$n" status 2>/dev/null | grep -q "seen=1"; then
        echo "card $n in reader 'Virtual PCD 00 0$n' (pid $(cat "$run_dir/card$n.pid"))"
        return 0
      fi
    fi
    kill -0 "$(cat "$run_dir/card$n.pid")" 2>/dev/null || die "virtual-card exited; see $run_dir/card$n.log"
    sleep 0.02
  done
  die "pcscd did not see card $n within 10 s (is pcscd started?)"
}

cmd_card_stop() {
  local n="${1:?card-stop needs a reader index}"
  if pid="$(live_pid "$run_dir/card$n.pid" virtual-card)"; then stop_pid "$pid"; fi
  rm -f "$run_dir/card$n.pid" "$run_dir/card$n.sock"
}

cmd_stop() {
  cmd_card_stop 0
  cmd_card_stop 1
  if pid="$(live_pid "$run_dir/pcscd.pid" pcscd)"; then stop_pid "$pid"; echo "pcscd (pid $pid) stopped"; fi
  rm -f "$run_dir/pcscd.pid"
}

cmd_status() {
  if pid="$(live_pid "$run_dir/pcscd.pid" pcscd)"; then echo "pcscd: running (pid $pid)"; else echo "pcscd: not started here"; fi
  for n in 0 1; do
    if pid="$(live_pid "$run_dir/card$n.pid" virtual-card)"; then echo "card $n: $(card_send "$n" status)"; fi
  done
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  card-start) shift; cmd_card_start "$@" ;;
  card-stop) shift; cmd_card_stop "$@" ;;
  card) shift; n="${1:?card needs a reader index}"; shift; card_send "$n" "$@" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
