#!/usr/bin/env bash
# Installs every Debian 12 package Sluice needs to build, test and benchmark. Idempotent: does
# nothing when all packages are present. Never installs libboost-dev/libboost-all-dev (Boost 1.74,
# which conflicts with the 1.81 packages used here).
set -euo pipefail

packages=(
  g++ cmake ninja-build pkgconf
  libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev libssl-dev libtomlplusplus-dev
  prometheus-cpp-dev libhiredis-dev libspdlog-dev libcli11-dev libgtest-dev
  libxxhash-dev libre2-dev libluajit2-5.1-dev
  redis-server wrk python3-websockets python3-yaml curl openssl ccache mold yamllint
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
