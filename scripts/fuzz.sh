#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang-14, ASan + UBSan, assertions on) into
# build-fuzz/ and runs each for FUZZ_SECONDS (default 15) from its seed corpus
# tests/fuzz/corpus/<target>/. New inputs go to build-fuzz/corpus/<target>/ (the seeds in the
# repository stay small); a crash stops the run with exit 1 and leaves the input in
# build-fuzz/crashes/. Run one target: scripts/fuzz.sh request_head; reproduce a crash:
# build-fuzz/bin/fuzz_<target> build-fuzz/crashes/<file>.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
JOBS=${JOBS:-$(nproc)}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request_head response_head config resp)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if ! installed clang-14 || ! installed libclang-rt-14-dev; then
  echo "fuzz: installing clang-14 and libclang-rt-14-dev"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev
fi

CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD_DIR" -G Ninja -DSLUICE_FUZZ=ON -DSLUICE_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${targets[@]/#/fuzz_}"

mkdir -p "$BUILD_DIR/crashes"
# In CI the mutations follow a fixed seed, so a run is repeatable; locally each run explores anew.
seed=()
if [ -n "${FUZZ_SEED:-}" ]; then seed=(-seed="$FUZZ_SEED"); elif [ -n "${CI:-}" ]; then seed=(-seed=1); fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for t in "${targets[@]}"; do
  mkdir -p "$BUILD_DIR/corpus/$t"
  # hiredis 0.14 callocs an array's element pointers as soon as it reads "*N" (N up to 2^31):
  # in production a large N reserves untouched virtual memory and an absurd one fails calloc,
  # which hiredis reports as an error. Here allocations over 512 MiB fail the same way.
  asan=$ASAN_OPTIONS
  [ "$t" = resp ] && asan=$asan:max_allocation_size_mb=512
  echo "fuzz: $t for ${FUZZ_SECONDS}s"
  if ! ASAN_OPTIONS=$asan "$BUILD_DIR/bin/fuzz_$t" "$BUILD_DIR/corpus/$t" "tests/fuzz/corpus/$t" "${seed[@]}" \
      -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
      -artifact_prefix="$BUILD_DIR/crashes/$t-" -print_final_stats=1 >"$BUILD_DIR/$t.log" 2>&1; then
    tail -n 60 "$BUILD_DIR/$t.log"
    echo "fuzz: $t FAILED (input in $BUILD_DIR/crashes/)"
    exit 1
  fi
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)" "$BUILD_DIR/$t.log" || true
done
echo "fuzz: all targets ran clean"
