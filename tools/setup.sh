#!/usr/bin/env bash
# Installs every Debian package the project needs to build, test and run.
# Idempotent: packages already present are left alone; needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang libclang-rt-14-dev
  libboost1.81-dev nlohmann-json3-dev libfmt-dev libspdlog-dev
  libtomlplusplus-dev libcli11-dev doctest-dev
  libsqlite3-dev sqlite3
  libssl-dev openssl
  libpcsclite-dev pcscd vsmartcard-vpcd pcsc-tools
  libsystemd-dev
  help2man shellcheck
  procps iproute2 curl chromium poppler-utils fonts-wqy-zenhei
  python3-prometheus-client
)
# The office console's pages are built with node and npm (Debian's packages, or NodeSource's
# nodejs, which brings its own npm).
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
