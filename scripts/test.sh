#!/usr/bin/env bash
# The test command: installs what the tests need, builds everything, runs every test (ctest),
# then the fuzz targets for a bounded time and the suite under sanitizers (ASan + UBSan for all of
# it, ThreadSanitizer for the multi-worker suites).
# Integration tests start their own processes (sluice, backends) on kernel-chosen ports.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
(cd "$BUILD_DIR" && ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 300)
# Hardening (README "Hardening"): a bounded fuzz run (about a minute), the whole suite again
# under ASan + UBSan, and the multi-worker suites under TSan, in build-fuzz/, build-asan/ and
# build-tsan/. SLUICE_HARDENING=0 skips all three.
if [ "${SLUICE_HARDENING:-1}" != 0 ]; then
  ./scripts/fuzz.sh
  ./scripts/test-sanitizers.sh
  ./scripts/test-tsan.sh
fi
