#!/usr/bin/env bash
# Every systemd unit the package installs is hardened: systemd-analyze
# security rates each service at most 3.0 (of 10). Skips (exit 77) only where
# systemd-analyze is absent. Usage: unit_security.sh UNIT...
set -euo pipefail
limit=3.0
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze is not installed (Debian package systemd); the units' hardening was not rated"
  exit 77
fi
failed=0
for unit in "$@"; do
  out=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1) || true
  score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
  if [ -z "$score" ]; then
    printf '%s\n' "$out"
    echo "FAIL: $unit: systemd-analyze gave no rating"
    failed=1
    continue
  fi
  if awk -v s="$score" -v l="$limit" 'BEGIN { exit !(s <= l) }'; then
    echo "ok: $(basename "$unit") exposure $score (at most $limit)"
  else
    printf '%s\n' "$out" | grep '✗' || true
    echo "FAIL: $(basename "$unit") exposure $score, above $limit"
    failed=1
  fi
done
exit "$failed"
