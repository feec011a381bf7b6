#!/usr/bin/env bash
# The suite under ThreadSanitizer: configures build-tsan/ with -DSLUICE_TSAN=ON (-O1, debug
# info), builds sluice, the backends and the test binaries, and runs the unit tests (the
# concurrent stores and counters) and every integration test (several run sluice with two
# workers, and every sluice has its main, health-check and worker threads). Reports from every process (the sluice children too) go to
# build-tsan/sanitizer-logs/ and fail this script when there are any.
#
# Where it does not work: prometheus-cpp, spdlog, OpenSSL and hiredis come uninstrumented from
# Debian, so races inside them are not seen (tests/tsan.supp names what is suppressed and why).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${TSAN_BUILD_DIR:-build-tsan}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DSLUICE_TSAN=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target sluice sluice-echo sluice-items sluice_unit_tests sluice_integration_tests

logs="$PWD/$BUILD_DIR/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1:log_path=$logs/tsan:suppressions=$PWD/tests/tsan.supp}
status=0
# Excluded: the tests that bound sluice's peak RSS (TSan's shadow memory is several times the heap).
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$JOBS" --timeout 600 -L integration -E 'LargeUploadStreamsWithSmallMemory|UnboundedAllocationAnswers500AndMemoryIsGivenBack') || status=$?
(cd "$BUILD_DIR" && ./bin/sluice_unit_tests --gtest_brief=1) || status=$?
if compgen -G "$logs/*" >/dev/null; then
  for f in "$logs"/*; do
    echo "---- $f"
    cat "$f"
  done
  echo "test-tsan: ThreadSanitizer reports above"
  status=1
fi
exit $status
