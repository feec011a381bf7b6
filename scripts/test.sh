#!/usr/bin/env bash
# The test command: installs what the tests need, builds everything, runs every test (ctest).
# Integration tests start their own processes (sluice, backends) on kernel-chosen ports.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 300
