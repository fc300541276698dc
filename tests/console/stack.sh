#!/usr/bin/env bash
# The whole stack the console's browser tests run against, in a temporary
# folder of the build tree: insurer-sim (mutual TLS), pcscd with a virtual card
# in W01's reader, settled, its operators and a few settlements, and the console
# over HTTPS. Writes an env file for the test, runs the command given after
# "--" (or waits for Ctrl-C without one), and stops everything on exit.
#
#   tests/console/stack.sh BUILD_DIR [-- COMMAND ARGS...]
#   (by hand under the lock the pcscd tests share:
#    flock /tmp/settle-pcscd.lock tests/console/stack.sh build -- node tests/console/console_test.mjs)
#
# The command gets CONSOLE_TEST_ENV: the env file's path (KEY=VALUE lines).
# Environment: CONSOLE_BIN (default BUILD_DIR/tools/console/settle-console) and
# CONSOLE_WEB_DIR (default BUILD_DIR/tools/console/web/dist) to try another
# console or other pages; CONSOLE_STACK_KEEP=1 keeps the folder afterwards.
set -euo pipefail

[ $# -ge 1 ] || { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
build=$(cd "$1" && pwd) || { echo "stack.sh: build dir '$1' does not exist" >&2; exit 2; }
shift
if [ $# -gt 0 ]; then
  [ "$1" = "--" ] || { echo "stack.sh: expected '--' before the command, got '$1'" >&2; exit 2; }
  shift
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

ctl=$build/tools/settlectl/settlectl
sim=$build/tools/insurer-sim/insurer-sim
settled=$build/tools/settled/settled
console=${CONSOLE_BIN:-$build/tools/console/settle-console}
web_dir=${CONSOLE_WEB_DIR:-$build/tools/console/web/dist}
pki=$build/pki
for f in "$ctl" "$sim" "$settled" "$console" "$build/tests/support/virtual-card"; do
  [ -x "$f" ] || { echo "stack.sh: $f is not built" >&2; exit 2; }
done
[ -f "$web_dir/index.html" ] || { echo "stack.sh: no built pages in $web_dir (index.html missing)" >&2; exit 2; }
[ -f "$pki/server.crt" ] || { echo "stack.sh: no test PKI in $pki (tools/gen-test-pki.sh $pki)" >&2; exit 2; }

mkdir -p "$build/console-tests"
dir=$(mktemp -d "$build/console-tests/stack.XXXXXX")
mkdir -p "$dir/data" "$dir/reports" "$dir/pw"
chmod 700 "$dir/pw"
export SETTLE_RUN_DIR=$dir/pcsc
export VIRTUAL_CARD=$build/tests/support/virtual-card
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$root/tests/support/pcscd-harness.sh" stop >/dev/null 2>&1 || true
  if [ "$rc" -ne 0 ]; then
    echo "stack.sh: exit status $rc; logs of the stack:" >&2
    for log in "$dir"/*.log; do [ -f "$log" ] && { echo "--- $log (last 30 lines)" >&2; tail -n 30 "$log" >&2; }; done
  fi
  if [ "${CONSOLE_STACK_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
    echo "stack.sh: files kept in $dir" >&2
  else
    rm -rf "$dir"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
wait_for() {  # wait_for FILE PATTERN SECONDS
  for _ in $(seq 1 $(( $3 * 20 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "stack.sh: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# --- insurer simulator (医保中心), mutual TLS, with its control port
secret='console-test-secret-0001'
printf '%s\n' "$secret" > "$dir/secret"
chmod 600 "$dir/secret"
"$sim" add-person --db "$dir/insurer.db" --card-no D00000001 --card-sn 0123456789ABCDEF \
  --id-no 11010519491231002X --name 张三 --insutype 310 --balance 5000.00 --deductible-used 1800.00 >/dev/null
"$sim" serve --db "$dir/insurer.db" --listen 127.0.0.1:0 --control 127.0.0.1:0 --sync normal \
  --cert "$pki/server.crt" --key "$pki/server.key" --ca "$pki/ca.crt" \
  --secret "$secret" --paasid H11010500001 --policy "$root/docs/examples/policy.toml" > "$dir/insurer.log" 2>&1 &
pids+=($!)
wait_for "$dir/insurer.log" "listening on" 10
sim_port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\) control.*/\1/p' "$dir/insurer.log")
sim_control=$(sed -n 's/.*control 127.0.0.1:\([0-9]*\).*/\1/p' "$dir/insurer.log")

# --- pcscd with the card (张三, PIN 123456) in W01's reader; W02's reader stays empty
"$root/tests/support/pcscd-harness.sh" start >/dev/null
"$root/tests/support/pcscd-harness.sh" card-start 0 --card-no D00000001 --card-sn 0123456789ABCDEF \
  --id-no 11010519491231002X --name 张三 --pin 123456 >/dev/null

# --- settled: windows W01 and W02; the line goes offline at the first failure
# and a reversal the insurer refuses once is parked at once.
cat > "$dir/settled.toml" <<CONF
[daemon]
data_dir = "data"
policy = "$root/docs/examples/policy.toml"
[cashier]
socket = "data/cashier.sock"
lockout_s = 0
[institution]
code = "H11010500001"
name = "示例市第一人民医院"
area = "110105"
insurer_area = "110105"
[insurer]
host = "127.0.0.1"
port = $sim_port
server_name = "insurer.test"
ca_file = "$pki/ca.crt"
cert_file = "$pki/client.crt"
key_file = "$pki/client.key"
paasid = "H11010500001"
secret_file = "secret"
[readers.windows]
"W01" = "Virtual PCD 00 00"
"W02" = "Virtual PCD 00 01"
[network]
probe_interval_ms = 200
failures_to_offline = 1
offline_deadline_ms = 1000
[reversal]
retry_initial_ms = 50
retry_max_ms = 100
park_after_refusals = 1
[metrics]
listen = "127.0.0.1:0"
CONF

# Operators: made on the ledger before the start with an initial password,
# then each changes it at its first login (as docs/operations.md says).
printf 'Initial-2026!\n' > "$dir/pw/initial"
declare -A roles=([adm1]=admin [s001]=supervisor [s002]=supervisor [a001]=auditor [c001]=cashier)
declare -A passwords=([adm1]='Role-Admin-2026!' [s001]='Role-Super-2026!' [s002]='Role-Second-2026!'
                      [a001]='Role-Audit-2026!' [c001]='Role-Cash-2026!')
for name in adm1 s001 s002 a001 c001; do
  printf '%s\n' "${passwords[$name]}" > "$dir/pw/$name"
  "$ctl" operator add --ledger "$dir/data/ledger.db" --name "$name" --role "${roles[$name]}" \
    --initial-password-file "$dir/pw/initial" >/dev/null
done
( cd "$dir" && exec "$settled" --config "$dir/settled.toml" ) > "$dir/settled.log" 2>&1 &
pids+=($!)
wait_for "$dir/settled.log" "ready on" 20
export SETTLED_SOCKET=$dir/data/cashier.sock
for name in adm1 s001 s002 a001 c001; do
  "$ctl" password --operator "$name" --window W01 --password-file "$dir/pw/initial" \
    --new-password-file "$dir/pw/$name" >/dev/null
done

# --- settlements at W01 by c001, the patient entering the PIN
xss_name='<img src=x onerror="window.__xss=1">'
cat > "$dir/lines.json" <<'LINES'
[{"code": "110200001", "name": "普通门诊诊查费", "class": "A", "amount": "25.00"},
 {"code": "86900001",  "name": "阿莫西林胶囊",   "class": "B", "amount": "48.60"},
 {"code": "C0001",     "name": "自费营养品",     "class": "C", "amount": "16.00"}]
LINES
python3 - "$dir/lines-xss.json" "$xss_name" <<'PY'
import json, sys
json.dump([{"code": "110200001", "name": "普通门诊诊查费", "class": "A", "amount": "25.00"},
           {"code": "C0666", "name": sys.argv[2], "class": "C", "amount": "12.00"}],
          open(sys.argv[1], "w"), ensure_ascii=False)
PY
commit() {  # commit REQUEST_ID LINES_FILE -> prints the setl_id
  echo 123456 | "$ctl" commit --operator c001 --window W01 --password-file "$dir/pw/c001" \
    --lines "$2" --request-id "$1" --pin-stdin --json > "$dir/commit-$1.json"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["setl_id"])' "$dir/commit-$1.json"
}
setl_ids=()
for n in 1 2 3; do setl_ids+=("$(commit "ct-visit-$n" "$dir/lines.json")"); done
setl_xss=$(commit ct-visit-xss "$dir/lines-xss.json")

# --- the console over HTTPS (the test PKI's server certificate names 127.0.0.1)
cp "$pki/server.crt" "$dir/console.crt"
cp "$pki/server.key" "$dir/console.key"
chmod 600 "$dir/console.key"
start_console() {
  port=$(free_port)
  cat > "$dir/console.toml" <<CONF
[console]
listen = "127.0.0.1:$port"
cert_file = "$dir/console.crt"
key_file = "$dir/console.key"
socket = "$dir/data/cashier.sock"
web_dir = "$web_dir"
reports_dir = "$dir/reports"
session_idle_s = 900
max_sessions = 64
login_failures_per_minute = 5
hospital = "示例市第一人民医院"
CONF
  "$console" --config "$dir/console.toml" > "$dir/console.log" 2>&1 &
  console_pid=$!
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$console_pid" 2>/dev/null || return 1
    sleep 0.05
  done
  kill "$console_pid" 2>/dev/null || true
  return 1
}
started=0
for _ in 1 2 3; do  # a port taken between the choice and the bind: try another one
  if start_console; then started=1; break; fi
  wait "$console_pid" 2>/dev/null || true
done
[ "$started" = 1 ] || { echo "stack.sh: the console did not start:" >&2; cat "$dir/console.log" >&2; exit 1; }
pids+=("$console_pid")

ids_csv=$(IFS=,; echo "${setl_ids[*]}")
{
  printf 'BUILD_DIR=%s\n' "$build"
  printf 'STACK_DIR=%s\n' "$dir"
  printf 'CONSOLE_URL=https://127.0.0.1:%s\n' "$port"
  printf 'CONSOLE_PORT=%s\n' "$port"
  printf 'CONSOLE_LOG=%s\n' "$dir/console.log"
  printf 'SIM_CONTROL=http://127.0.0.1:%s\n' "$sim_control"
  printf 'SIM_PORT=%s\n' "$sim_port"
  printf 'SETTLED_SOCKET=%s\n' "$SETTLED_SOCKET"
  printf 'SETTLED_LOG=%s\n' "$dir/settled.log"
  printf 'SETTLECTL=%s\n' "$ctl"
  printf 'CARD_PIN=123456\n'
  printf 'LINES_FILE=%s\n' "$dir/lines.json"
  printf 'SETL_IDS=%s\n' "$ids_csv"
  printf 'SETL_XSS=%s\n' "$setl_xss"
  printf 'XSS_NAME=%s\n' "$xss_name"
  for name in adm1 s001 s002 a001 c001; do
    printf 'PW_%s=%s\n' "$name" "${passwords[$name]}"
    printf 'PWFILE_%s=%s\n' "$name" "$dir/pw/$name"
  done
} > "$dir/env"
echo "stack.sh: console at https://127.0.0.1:$port, env file $dir/env (the stack took ${SECONDS} s)"

if [ $# -gt 0 ]; then
  CONSOLE_TEST_ENV=$dir/env "$@"
else
  echo "stack.sh: running; Ctrl-C stops it"
  while :; do sleep 3600 & wait $! || true; done
fi
