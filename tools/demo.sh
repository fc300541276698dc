#!/usr/bin/env bash
# The main job on its embedded defaults: installs what is needed, builds, then
# starts the insurer simulator (mutual TLS), a virtual card in a virtual
# reader (real pcscd), and the settlement daemon, and walks one charge at the
# payment window through settle, partial refund and status with settlectl.
# Everything it starts is stopped again on exit; its files are in build/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target settled settlectl insurer-sim virtual-card
tools/gen-test-pki.sh "$root/build/pki" >/dev/null

demo=$root/build/demo
rm -rf "$demo"
mkdir -p "$demo/data"
export SETTLE_RUN_DIR=$demo/pcsc
export VIRTUAL_CARD=$root/build/tests/support/virtual-card
ctl=$root/build/tools/settlectl/settlectl
sim=$root/build/tools/insurer-sim/insurer-sim
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  tests/support/pcscd-harness.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_for() {  # wait_for FILE PATTERN SECONDS
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "demo: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

say "insurer simulator (医保中心) on loopback, mutual TLS"
secret=demo-shared-secret-0001
printf '%s\n' "$secret" > "$demo/secret"
"$sim" add-person --db "$demo/insurer.db" --card-no D00000001 --card-sn 0123456789ABCDEF \
  --id-no 11010519491231002X --name 张三 --insutype 310 --balance 500.00 --deductible-used 1800.00 >/dev/null
"$sim" serve --db "$demo/insurer.db" --listen 127.0.0.1:0 --control 127.0.0.1:0 \
  --cert build/pki/server.crt --key build/pki/server.key --ca build/pki/ca.crt \
  --secret "$secret" --paasid H11010500001 --policy docs/examples/policy.toml > "$demo/insurer.log" 2>&1 &
pids+=($!)
wait_for "$demo/insurer.log" "listening on" 10
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\) .*/\1/p' "$demo/insurer.log")
echo "insurer-sim listening on 127.0.0.1:$port"

say "card reader: pcscd with a virtual card (张三, PIN 123456) in window W01's reader"
tests/support/pcscd-harness.sh start
tests/support/pcscd-harness.sh card-start 0 --card-no D00000001 --card-sn 0123456789ABCDEF \
  --id-no 11010519491231002X --name 张三 --pin 123456

say "settlement daemon"
cat > "$demo/settled.toml" <<CONF
[daemon]
data_dir = "data"
policy = "$root/docs/examples/policy.toml"
[cashier]
socket = "data/cashier.sock"
[institution]
code = "H11010500001"
name = "示例市第一人民医院"
area = "110105"
insurer_area = "110105"
[insurer]
host = "127.0.0.1"
port = $port
server_name = "insurer.test"
ca_file = "$root/build/pki/ca.crt"
cert_file = "$root/build/pki/client.crt"
key_file = "$root/build/pki/client.key"
paasid = "H11010500001"
secret_file = "secret"
[readers.windows]
"W01" = "Virtual PCD 00 00"
[metrics]
listen = "127.0.0.1:0"
CONF
printf 'Cashier-2026\n' > "$demo/password"
printf 'Initial-2026!\n' > "$demo/initial-password"
"$ctl" operator add --ledger "$demo/data/ledger.db" --name c001 --role cashier --initial-password-file "$demo/initial-password"
${SETTLED_WRAPPER:-} build/tools/settled/settled --config "$demo/settled.toml" > "$demo/settled.log" 2>&1 &
pids+=($!)
wait_for "$demo/settled.log" "ready on" 15
export SETTLED_SOCKET=$demo/data/cashier.sock
as_cashier=(--operator c001 --window W01 --password-file "$demo/password")

say "the cashier's first login: the initial password is changed"
"$ctl" password --operator c001 --window W01 --password-file "$demo/initial-password" --new-password-file "$demo/password"

say "status"
"$ctl" status

say "the card at window W01"
"$ctl" person "${as_cashier[@]}"

say "preview of the visit's charges"
cat > "$demo/lines.json" <<'LINES'
[{"code": "110200001", "name": "普通门诊诊查费", "class": "A", "amount": "25.00"},
 {"code": "86900001",  "name": "阿莫西林胶囊",   "class": "B", "amount": "48.60"},
 {"code": "250310005", "name": "血常规检查",     "class": "B", "amount": "30.00"},
 {"code": "C0001",     "name": "自费营养品",     "class": "C", "amount": "66.00"}]
LINES
"$ctl" preview "${as_cashier[@]}" --lines "$demo/lines.json"

say "settle (the patient enters the PIN)"
echo 123456 | "$ctl" commit "${as_cashier[@]}" --lines "$demo/lines.json" --request-id demo-visit-0001 --pin-stdin --json \
  | tee "$demo/commit.json"
setl_id=$(sed -n 's/.*"setl_id": "\([0-9]*\)".*/\1/p' "$demo/commit.json" | head -1)

say "partial refund of the self-paid item (card at the window, no PIN)"
echo '[{"code": "C0001", "amount": "66.00"}]' > "$demo/refund.json"
"$ctl" refund "${as_cashier[@]}" --setl-id "$setl_id" --request-id demo-refund-0001 --lines "$demo/refund.json"

say "the settlement as recorded"
"$ctl" get "${as_cashier[@]}" "$setl_id"

say "status"
"$ctl" status
echo
echo "demo: done (logs in build/demo)"
