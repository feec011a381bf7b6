#!/usr/bin/env bash
# Side-by-side benchmark of Sluice against nginx and HAProxy (see bench/README.md).
#
#   bench/run.sh               full run (~13 min): writes bench/results/latest.md and latest.png
#   QUICK=1 bench/run.sh       3 s runs, 1 round, 2,000 callgrind requests -> bench/results/quick/
#
# Layout: wrk, the load clients and the nginx backend run on CPU $CLIENT_CPU, the proxy under
# test on CPU $PROXY_CPU; one worker each, upstream keep-alive for every proxy. All traffic goes
# to 127.0.0.1, every load is bounded in count and time, and every process this script starts
# is stopped by its PID when it ends (also on Ctrl-C or failure).
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
PY=/usr/bin/python3
START_TIME=$(date +%s)

# ---------------------------------------------------------------- settings (env overrides)
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  def_duration=3 def_rounds=1 def_cg=2000 def_out=$BENCH/results/quick
else
  def_duration=10 def_rounds=3 def_cg=20000 def_out=$BENCH/results
fi
DURATION=${DURATION:-$def_duration}              # seconds per wrk run
ROUNDS=${ROUNDS:-$def_rounds}                    # interleaved rounds; medians are reported
CALLGRIND_REQUESTS=${CALLGRIND_REQUESTS:-$def_cg} # measured keep-alive requests under callgrind
CALLGRIND_WARMUP=${CALLGRIND_WARMUP:-500}        # requests in the baseline run (subtracted)
IDLE_CONNS=${IDLE_CONNS:-10000}                  # idle keep-alive connections per proxy
CONNECTIONS=${CONNECTIONS:-"50 500"}             # wrk -c values
BODIES=${BODIES:-"small 4k"}                     # small = 12 bytes, 4k = 4096 bytes
PROXIES=${PROXIES:-"sluice nginx haproxy"}
OUT_DIR=${OUT_DIR:-$def_out}
CLIENT_CPU=${CLIENT_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
SLUICE_SRC=${SLUICE_SRC:-$ROOT}                  # tree to build sluice from
BUILD_DIR=${BUILD_DIR:-build}                    # relative to SLUICE_SRC unless absolute
JOBS=${JOBS:-$(nproc)}
SLUICE_BIN=${SLUICE_BIN:-}                       # set to use a prebuilt binary (no build)
SKIP_MEMORY=${SKIP_MEMORY:-0}
SKIP_CALLGRIND=${SKIP_CALLGRIND:-0}
KEEP_RUN=${KEEP_RUN:-0}                          # keep the scratch directory (logs, raw output)
UPSTREAM_KEEPALIVE=${UPSTREAM_KEEPALIVE:-64}     # idle upstream connections kept (nginx, sluice)
# Benchmark processes run at a higher priority than other work on the machine (root only).
def_nice=0
[ "$(id -u)" -ne 0 ] || def_nice=-10
BENCH_NICE=${BENCH_NICE:-$def_nice}

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- process bookkeeping
PIDS=()
RUN=""
POLICY_RC_CREATED=0

descendants() {
  local p
  for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$p"
    descendants "$p"
  done
}

# stop_pid PID [seconds]: SIGTERM, wait, then SIGKILL the process (and children it left behind).
stop_pid() {
  local pid=$1 limit=${2:-10} kids i k
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
    return 0
  fi
  kids=$(descendants "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "process $pid did not stop in ${limit}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
  fi
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}

forget_pid() { # drops a reaped PID from the list cleanup() stops, so it is never signalled again
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  while [ ${#PIDS[@]} -gt 0 ]; do stop_pid "${PIDS[-1]}" 10; done
  if [ "$POLICY_RC_CREATED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  if [ -n "$RUN" ] && [ -d "$RUN" ]; then
    if [ "$KEEP_RUN" = 1 ] || [ "$rc" -ne 0 ]; then say "scratch directory kept: $RUN"; else rm -rf "$RUN"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bg NAME CPU CMD...: runs CMD pinned to CPU with output in $RUN/NAME.log; sets LAST_PID.
LAST_PID=""
start_bg() {
  local name=$1 cpu=$2
  shift 2
  nice -n "$BENCH_NICE" taskset -c "$cpu" "$@" >"$RUN/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# wait_port PORT PID NAME SECONDS: waits until PORT accepts connections while PID is alive.
wait_port() {
  local port=$1 pid=$2 name=$3 limit=$4 i
  for ((i = 0; i < limit * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$RUN/$name.log" >&2 || true
      die "$name exited before listening on $port"
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  tail -n 20 "$RUN/$name.log" >&2 || true
  die "$name did not listen on $port within ${limit}s"
}

# free_ports N: N distinct free TCP ports on 127.0.0.1 below the ephemeral range.
free_ports() {
  "$PY" - "$1" <<'EOF'
import random, socket, sys
want, found = int(sys.argv[1]), []
while len(found) < want:
    port = random.randrange(20000, 32000)
    if port in found:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        found.append(port)
    except OSError:
        pass
    finally:
        s.close()
print(" ".join(map(str, found)))
EOF
}

# fill TEMPLATE OUT KEY=VALUE...: replaces @KEY@ in TEMPLATE.
fill() {
  local in=$1 out=$2 kv key val
  shift 2
  cp "$in" "$out"
  for kv in "$@"; do
    key=${kv%%=*}
    val=${kv#*=}
    val=${val//\\/\\\\}
    val=${val//|/\\|}
    val=${val//&/\\&}
    sed -i "s|@${key}@|${val}|g" "$out"
  done
  if grep -q '@[A-Z_]*@' "$out"; then die "unfilled placeholder in $out"; fi
}

# ---------------------------------------------------------------- /proc readings
tree_pids() { echo "$1"; descendants "$1"; }

cpu_ticks() { # PIDS... -> utime+stime summed, in clock ticks
  local p s=0 v
  for p in "$@"; do
    v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)
    s=$((s + ${v:-0}))
  done
  echo "$s"
}

rss_kib() { # PID -> VmRSS summed over the process and its descendants, KiB
  local p s=0 v
  for p in $(tree_pids "$1"); do
    v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
    s=$((s + ${v:-0}))
  done
  echo "$s"
}

core_busy() { # CPU -> busy ticks (user+nice+system+irq+softirq+steal) and steal ticks of that core
  awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $9 }' /proc/stat
}

backend_counters() { # -> accepted connections and requests seen by the backend so far
  curl -fsS "http://127.0.0.1:$BACKEND_PORT/_status" | awk 'NR == 3 { print $1, $3 }'
}

# ---------------------------------------------------------------- 1. tools
install_packages() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  say "installing from Debian: $*"
  # Keep the packages' own services (nginx on :80, haproxy) from being started by the install.
  if [ -z "$sudo" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  if [ "$POLICY_RC_CREATED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; POLICY_RC_CREATED=0; fi
}

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v haproxy >/dev/null || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
command -v valgrind >/dev/null || need+=(valgrind)
command -v callgrind_annotate >/dev/null || need+=(valgrind)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v taskset >/dev/null || need+=(util-linux)
command -v ss >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
[ -x "$PY" ] || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then install_packages "${need[@]}"; fi

# ---------------------------------------------------------------- 2. build sluice (Release)
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$SLUICE_SRC/$BUILD_DIR ;; esac
if [ -z "$SLUICE_BIN" ]; then
  if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null; then "$ROOT/scripts/install-deps.sh"; fi
  say "building sluice (Release) in $BUILD_DIR with -j$JOBS"
  cmake -S "$SLUICE_SRC" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" --target sluice -j "$JOBS" >&2
  SLUICE_BIN=$BUILD_DIR/bin/sluice
fi
[ -x "$SLUICE_BIN" ] || die "no sluice binary at $SLUICE_BIN"
BUILD_SECONDS=$(($(date +%s) - START_TIME))
if [ -z "${SLUICE_REV:-}" ]; then
  SLUICE_REV=$(git -C "$SLUICE_SRC" describe --always --dirty 2>/dev/null || echo unknown)
fi

[ "$(nproc)" -ge 2 ] || say "WARNING: fewer than 2 CPUs; proxy and client share a core"
# 10,000 idle connections need more descriptors than the usual default of 1024.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
if [ "$FD_LIMIT" != unlimited ] && [ "$FD_LIMIT" -lt $((IDLE_CONNS + 2000)) ]; then
  say "WARNING: open-file limit $FD_LIMIT is below what $IDLE_CONNS idle connections need"
fi

# ---------------------------------------------------------------- 3. scratch dir, data files
RUN=$(mktemp -d /tmp/sluice-bench.XXXXXX)
chmod 755 "$RUN"
mkdir -p "$RUN/www/cached" "$RUN/www/limited" "$RUN/www/lua" "$RUN/tmp" "$RUN/cg" "$RUN/raw"
printf 'hello world\n' >"$RUN/www/small.txt" # 12 bytes
head -c 4096 /dev/zero | tr '\0' 'x' >"$RUN/www/4k.bin"
cp "$RUN/www/small.txt" "$RUN/www/4k.bin" "$RUN/www/cached/"
cp "$RUN/www/small.txt" "$RUN/www/4k.bin" "$RUN/www/limited/"
cp "$RUN/www/small.txt" "$RUN/www/4k.bin" "$RUN/www/lua/"
# The trivial filter of the optional lua section: one call into Lua each way per request.
cat >"$RUN/filter.lua" <<'LUA'
function on_request(req) req:set_header("X-Lua", "1") end
function on_response(resp) resp:set_header("X-Lua", "1") end
LUA
declare -A BODY_FILE=([small]=small.txt [4k]=4k.bin)
declare -A BODY_LEN=([small]=12 [4k]=4096)
USER_LINE=""
[ "$(id -u)" -ne 0 ] || USER_LINE="user root;"
RAW=$RUN/raw
META=$RAW/meta.tsv
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }

# ---------------------------------------------------------------- 4. configs
# write_proxy_config PROXY NAME PORT CACHE_PORT RL_PORT MASTER: writes the config, sets CMD
SLUICE_FRAGMENTS=()
CMD=()
write_proxy_config() {
  local proxy=$1 name=$2 port=$3 cport=$4 rport=$5 master=$6 f
  case $proxy in
    nginx)
      fill "$BENCH/conf/nginx.conf.in" "$RUN/$name.conf" USER_LINE="$USER_LINE" MASTER="$master" \
        RUN="$RUN" NAME="$name" PORT="$port" BACKEND_PORT="$BACKEND_PORT" KEEPALIVE="$UPSTREAM_KEEPALIVE"
      CMD=(nginx -p "$RUN/" -c "$RUN/$name.conf" -e "$RUN/$name.error.log")
      ;;
    haproxy)
      fill "$BENCH/conf/haproxy.cfg.in" "$RUN/$name.cfg" PORT="$port" CACHE_PORT="$cport" RL_PORT="$rport" \
        BACKEND_PORT="$BACKEND_PORT" MAXCONN=$((IDLE_CONNS + 500))
      CMD=(haproxy -db -f "$RUN/$name.cfg")
      ;;
    sluice)
      fill "$BENCH/conf/sluice-head.toml.in" "$RUN/$name.toml" PORT="$port" BACKEND_PORT="$BACKEND_PORT" \
        KEEPALIVE="$UPSTREAM_KEEPALIVE"
      for f in "${SLUICE_FRAGMENTS[@]}"; do
        fill "$BENCH/conf/sluice-$f.toml.in" "$RUN/tmp/fragment.toml" RUN="$RUN"
        cat "$RUN/tmp/fragment.toml" >>"$RUN/$name.toml"
      done
      cat "$BENCH/conf/sluice-tail.toml.in" >>"$RUN/$name.toml"
      CMD=("$SLUICE_BIN" -c "$RUN/$name.toml")
      ;;
    *) die "unknown proxy $proxy" ;;
  esac
}

# Optional sections: enabled when sluice's loader accepts the fragment (`sluice -t`).
read -r BACKEND_PORT <<<"$(free_ports 1)"
declare -A OPTIONAL_ON=()
for section in cache ratelimit lua; do
  probe=$RUN/probe-$section.toml
  fill "$BENCH/conf/sluice-head.toml.in" "$probe" PORT=1 BACKEND_PORT="$BACKEND_PORT" KEEPALIVE=64
  fill "$BENCH/conf/sluice-$section.toml.in" "$RUN/tmp/fragment.toml" RUN="$RUN"
  cat "$RUN/tmp/fragment.toml" "$BENCH/conf/sluice-tail.toml.in" >>"$probe"
  if out=$("$SLUICE_BIN" -t -c "$probe" 2>&1); then
    OPTIONAL_ON[$section]=1
    SLUICE_FRAGMENTS+=("$section")
    meta "optional_$section" "measured"
    say "optional section $section: sluice accepts it, measuring"
  else
    reason=$(grep -m1 -o 'probe-[a-z]*\.toml:[0-9:]* .*' <<<"$out" | sed 's/^probe-[a-z]*\.toml://' || true)
    meta "optional_$section" "skipped: sluice -t rejects the config (${reason:-exit 1})"
    say "optional section $section: skipped (sluice -t: ${reason:-exit 1})"
  fi
done

# ---------------------------------------------------------------- 5. backend and proxies
fill "$BENCH/conf/backend-nginx.conf.in" "$RUN/backend-nginx.conf" USER_LINE="$USER_LINE" RUN="$RUN" \
  BACKEND_PORT="$BACKEND_PORT"
start_bg backend "$CLIENT_CPU" nginx -p "$RUN/" -c "$RUN/backend-nginx.conf" -e "$RUN/backend-nginx.error.log"
BACKEND_PID=$LAST_PID
wait_port "$BACKEND_PORT" "$BACKEND_PID" backend 20

declare -A PID_OF=([backend]=$BACKEND_PID) PORT_OF=([backend]=$BACKEND_PORT) CPORT_OF=() RPORT_OF=()
for proxy in $PROXIES; do
  read -r p c r <<<"$(free_ports 3)"
  if [ "$proxy" != haproxy ]; then c=$p r=$p; fi # one port, routed by path
  write_proxy_config "$proxy" "$proxy" "$p" "$c" "$r" on
  start_bg "$proxy" "$PROXY_CPU" "${CMD[@]}"
  PID_OF[$proxy]=$LAST_PID PORT_OF[$proxy]=$p CPORT_OF[$proxy]=$c RPORT_OF[$proxy]=$r
  wait_port "$p" "$LAST_PID" "$proxy" 30
done

# Every route answers 200 with the expected body through every proxy before anything is timed.
check_get() { # NAME PORT PATH LEN
  local got
  got=$(curl -fsS -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$2$3") ||
    die "$1: GET $3 failed"
  [ "$got" = "200 $4" ] || die "$1: GET $3 answered '$got', expected '200 $4'"
}
for t in backend $PROXIES; do
  for b in $BODIES; do check_get "$t" "${PORT_OF[$t]}" "/${BODY_FILE[$b]}" "${BODY_LEN[$b]}"; done
  [ "$t" = backend ] && continue
  if [ -n "${OPTIONAL_ON[cache]:-}" ]; then
    check_get "$t" "${CPORT_OF[$t]}" /cached/small.txt 12
    check_get "$t" "${CPORT_OF[$t]}" /cached/small.txt 12 # primes the cache
  fi
  if [ -n "${OPTIONAL_ON[ratelimit]:-}" ]; then check_get "$t" "${RPORT_OF[$t]}" /limited/small.txt 12; fi
  if [ -n "${OPTIONAL_ON[lua]:-}" ] && [ "$t" = sluice ]; then check_get "$t" "${PORT_OF[$t]}" /lua/small.txt 12; fi
done
# A feature the loader accepts but that does not act on requests yet is not measured either.
has_header() { # PORT PATH REGEX: the response head has a header line matching REGEX
  curl -fsS -D - -o /dev/null "http://127.0.0.1:$1$2" | tr -d '\r' | grep -Eiq "$3"
}
if [ -n "${OPTIONAL_ON[cache]:-}" ] && [ -n "${PORT_OF[sluice]:-}" ] &&
  ! has_header "${CPORT_OF[sluice]}" /cached/small.txt '^cache-status:.*hit'; then
  unset 'OPTIONAL_ON[cache]'
  meta optional_cache "skipped: sluice accepts the config, but a repeated GET on the cached route has no 'Cache-Status: ...hit' header (cache not applied yet)"
  say "optional section cache: skipped (no Cache-Status hit from sluice)"
fi
if [ -n "${OPTIONAL_ON[ratelimit]:-}" ] && [ -n "${PORT_OF[sluice]:-}" ] &&
  ! has_header "${RPORT_OF[sluice]}" /limited/small.txt '^ratelimit(-policy)?:'; then
  unset 'OPTIONAL_ON[ratelimit]'
  meta optional_ratelimit "skipped: sluice accepts the config, but its answers on the limited route carry no RateLimit/RateLimit-Policy header (limiter not applied yet)"
  say "optional section ratelimit: skipped (no RateLimit headers from sluice)"
fi
if [ -n "${OPTIONAL_ON[lua]:-}" ] && [ -n "${PORT_OF[sluice]:-}" ] &&
  ! has_header "${PORT_OF[sluice]}" /lua/small.txt '^x-lua: 1'; then
  unset 'OPTIONAL_ON[lua]'
  meta optional_lua "skipped: sluice accepts the config, but the Lua route's answers carry no 'X-Lua: 1' header (filters not applied)"
  say "optional section lua: skipped (no X-Lua header from sluice)"
fi
if [ -n "${OPTIONAL_ON[lua]:-}" ] && [ -z "${PORT_OF[sluice]:-}" ]; then unset 'OPTIONAL_ON[lua]'; fi
say "backend on :$BACKEND_PORT; proxies: $(for t in $PROXIES; do printf '%s :%s  ' "$t" "${PORT_OF[$t]}"; done)"

# ---------------------------------------------------------------- 6. metadata
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta machine "$(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
meta nginx "$(nginx -v 2>&1 | sed 's/^nginx version: //')"
meta haproxy "$(haproxy -v | head -n1 | awk '{ print $3 }')"
meta sluice "$("$SLUICE_BIN" --version 2>&1 | head -n1) (source $SLUICE_REV)"
meta wrk "$(wrk -v 2>&1 | head -n1 | awk '{ print $2 }')"
meta valgrind "$(valgrind --version)"
meta settings "DURATION=${DURATION}s ROUNDS=$ROUNDS CONNECTIONS='$CONNECTIONS' BODIES='$BODIES' IDLE_CONNS=$IDLE_CONNS CALLGRIND_REQUESTS=$CALLGRIND_REQUESTS CALLGRIND_WARMUP=$CALLGRIND_WARMUP QUICK=$QUICK"
meta layout "client+backend CPU $CLIENT_CPU, proxy CPU $PROXY_CPU, nice $BENCH_NICE, upstream keepalive $UPSTREAM_KEEPALIVE"
meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
CLK_TCK=$(getconf CLK_TCK)
meta clk_tck "$CLK_TCK"

# ---------------------------------------------------------------- 7. idle keep-alive memory
printf 'proxy\ttarget\tok\tfailed\tstill_open\theld\trss_before_kib\trss_after_kib\topen_seconds\terrors\n' >"$RAW/memory.tsv"
if [ "$SKIP_MEMORY" != 1 ]; then
  for proxy in $PROXIES; do
    port=${PORT_OF[$proxy]} pid=${PID_OF[$proxy]}
    for _ in 1 2 3; do check_get "$proxy" "$port" /small.txt 12; done
    sleep 1
    rss0=$(rss_kib "$pid")
    status=$RUN/idle-$proxy.json release=$RUN/idle-$proxy.release
    say "memory: opening $IDLE_CONNS idle keep-alive connections through $proxy"
    start_bg "idle-$proxy" "$CLIENT_CPU" "$PY" "$BENCH/tools/idle_conns.py" --port "$port" --path /small.txt \
      --count "$IDLE_CONNS" --status "$status" --release "$release" --hold-max 180
    cpid=$LAST_PID
    for ((i = 0; i < 1800; i++)); do
      [ -s "$status" ] && break
      kill -0 "$cpid" 2>/dev/null || break
      sleep 0.1
    done
    [ -s "$status" ] || { tail -n 20 "$RUN/idle-$proxy.log" >&2; die "idle client for $proxy produced no status"; }
    sleep 2
    rss1=$(rss_kib "$pid")
    held=$(ss -Htn state established "( sport = :$port )" | wc -l)
    touch "$release"
    for ((i = 0; i < 300; i++)); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$cpid" 30
    read -r ok failed still opensec errs < <("$PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["ok"], s["failed"], s.get("still_open_at_release", -1), s["open_seconds"],
      json.dumps(s["errors"], separators=(",", ":")) or "{}")' "$status")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$proxy" "$IDLE_CONNS" "$ok" "$failed" "$still" "$held" \
      "$rss0" "$rss1" "$opensec" "$errs" >>"$RAW/memory.tsv"
    say "memory: $proxy held $held of $IDLE_CONNS (ok $ok, failed $failed $errs): RSS $rss0 -> $rss1 KiB"
    kill -0 "$pid" 2>/dev/null || die "$proxy died during the idle-connection test"
    sleep 2
  done
fi

# ---------------------------------------------------------------- 8. throughput and latency (wrk)
printf 'section\tscenario\ttarget\tround\tconns\tbody\trequests\tduration_us\tp50_us\tp99_us\terr_connect\terr_read\terr_write\terr_status\terr_timeout\ttarget_ticks\tbackend_ticks\tupstream_accepts\tbackend_requests\tproxy_core_busy\tproxy_core_steal\tclient_core_busy\n' >"$RAW/throughput.tsv"

kv() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; }

# measure SECTION SCENARIO TARGET ROUND CONNS BODY PORT PATH
measure() {
  local section=$1 scen=$2 target=$3 round=$4 conns=$5 body=$6 port=$7 path=$8
  local pids bpids t0 t1 b0 b1 a0 q0 a1 q1 pb0 ps0 pb1 ps1 cb0 cb1 out line
  # shellcheck disable=SC2207
  pids=($(tree_pids "${PID_OF[$target]}"))
  # shellcheck disable=SC2207
  bpids=($(tree_pids "$BACKEND_PID"))
  read -r a0 q0 < <(backend_counters)
  read -r pb0 ps0 < <(core_busy "$PROXY_CPU")
  read -r cb0 _ < <(core_busy "$CLIENT_CPU")
  t0=$(cpu_ticks "${pids[@]}")
  b0=$(cpu_ticks "${bpids[@]}")
  out=$RUN/wrk-$scen-$target-r$round.txt
  nice -n "$BENCH_NICE" taskset -c "$CLIENT_CPU" wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 5s --latency \
    -s "$BENCH/lua/report.lua" "http://127.0.0.1:$port$path" >"$out" 2>&1 || true
  t1=$(cpu_ticks "${pids[@]}")
  b1=$(cpu_ticks "${bpids[@]}")
  read -r pb1 ps1 < <(core_busy "$PROXY_CPU")
  read -r cb1 _ < <(core_busy "$CLIENT_CPU")
  read -r a1 q1 < <(backend_counters)
  line=$(grep -m1 '^WRK ' "$out" || true)
  if [ -z "$line" ]; then
    say "wrk produced no result for $scen $target (see below)"
    cat "$out" >&2
    line="WRK requests=0 duration_us=1 p50_us=0 p99_us=0 err_connect=0 err_read=0 err_write=0 err_status=0 err_timeout=0"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$section" "$scen" "$target" "$round" "$conns" "$body" \
    "$(kv requests "$line")" "$(kv duration_us "$line")" "$(kv p50_us "$line")" "$(kv p99_us "$line")" \
    "$(kv err_connect "$line")" "$(kv err_read "$line")" "$(kv err_write "$line")" "$(kv err_status "$line")" \
    "$(kv err_timeout "$line")" $((t1 - t0)) $((b1 - b0)) $((a1 - a0 - 1)) $((q1 - q0 - 1)) \
    $((pb1 - pb0)) $((ps1 - ps0)) $((cb1 - cb0)) >>"$RAW/throughput.tsv"
  say "$(awk -v r="$round" -v s="$scen" -v t="$target" -v n="$(kv requests "$line")" \
    -v d="$(kv duration_us "$line")" -v p="$(kv p99_us "$line")" -v ticks=$((t1 - t0)) -v hz="$CLK_TCK" \
    'BEGIN { printf "r%s %-20s %-8s %8.0f req/s  p99 %6.2f ms  target CPU %6.2f us/req", r, s, t,
             n * 1e6 / d, p / 1000, (n > 0 ? ticks * 1e6 / hz / n : 0) }')"
}

# Scenario list: SECTION SCENARIO BODY CONNS PATH PORT-KIND TARGETS
SCENARIOS=()
for b in $BODIES; do
  for c in $CONNECTIONS; do SCENARIOS+=("main $b-c$c $b $c /${BODY_FILE[$b]} plain backend $PROXIES"); done
done
[ -z "${OPTIONAL_ON[cache]:-}" ] || SCENARIOS+=("cache cache-hit-small-c50 small 50 /cached/small.txt cache $PROXIES")
[ -z "${OPTIONAL_ON[ratelimit]:-}" ] || SCENARIOS+=("ratelimit limited-small-c50 small 50 /limited/small.txt ratelimit $PROXIES")
# Sluice only: the Lua route against sluice's plain small-c50 run of the same round.
[ -z "${OPTIONAL_ON[lua]:-}" ] || SCENARIOS+=("lua lua-small-c50 small 50 /lua/small.txt plain sluice")

say "warm-up: 2 s of wrk -c50 through each proxy"
for t in $PROXIES; do
  nice -n "$BENCH_NICE" taskset -c "$CLIENT_CPU" wrk -t1 -c50 -d2s "http://127.0.0.1:${PORT_OF[$t]}/small.txt" >/dev/null 2>&1 || true
done

for ((round = 1; round <= ROUNDS; round++)); do
  for ((s = 0; s < ${#SCENARIOS[@]}; s++)); do
    read -r section scen body conns path kind targets_str <<<"${SCENARIOS[s]}"
    read -ra targets <<<"$targets_str"
    n=${#targets[@]}
    for ((k = 0; k < n; k++)); do # rotate the order each round and scenario
      t=${targets[(k + round + s) % n]}
      case $kind in
        plain) port=${PORT_OF[$t]} ;;
        cache) port=${CPORT_OF[$t]} ;;
        ratelimit) port=${RPORT_OF[$t]} ;;
      esac
      measure "$section" "$scen" "$t" "$round" "$conns" "$body" "$port" "$path"
      kill -0 "${PID_OF[$t]}" 2>/dev/null || die "$t died during $scen"
    done
  done
done
meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- 9. instructions per request (callgrind)
# Instruction counts do not depend on timing, so the valgrind runs are not pinned and up to
# CALLGRIND_PARALLEL of them (default: one per CPU) run at once, longest first.
printf 'proxy\tbody\twarmup\trequests\tir_warmup_run\tir_full_run\tstatus\n' >"$RAW/callgrind.tsv"

callgrind_total() { # FILE -> total Ir (the 'totals:' or 'summary:' line)
  awk '/^(totals|summary):/ { v = $2 } END { print (v == "" ? 0 : v) }' "$1"
}

declare -A CG_IR=() CG_STATE=() CG_VPID=() CG_CPID=() CG_PORT=() CG_T0=()
# cg_start JOB (PROXY:BODY:COUNT): starts the proxy under callgrind on fresh ports.
cg_start() {
  local job=$1 proxy body count name p c r
  IFS=: read -r proxy body count <<<"$job"
  name=cg-$proxy-$body-$count
  read -r p c r <<<"$(free_ports 3)"
  [ "$proxy" = haproxy ] || { c=$p r=$p; }
  write_proxy_config "$proxy" "$name" "$p" "$c" "$r" off
  start_bg "$name" "0-$(($(nproc) - 1))" valgrind --tool=callgrind --callgrind-out-file="$RUN/cg/$name.out" "${CMD[@]}"
  CG_VPID[$job]=$LAST_PID CG_PORT[$job]=$p CG_STATE[$job]=starting CG_T0[$job]=$SECONDS
}
# cg_step JOB: advances one job (start the client once the port is up; collect when it is done).
cg_step() {
  local job=$1 proxy body count name rc=0
  IFS=: read -r proxy body count <<<"$job"
  name=cg-$proxy-$body-$count
  case ${CG_STATE[$job]} in
    starting)
      if ! kill -0 "${CG_VPID[$job]}" 2>/dev/null; then
        tail -n 5 "$RUN/$name.log" >&2
        stop_pid "${CG_VPID[$job]}"
        CG_STATE[$job]=failed
      elif (exec 3<>"/dev/tcp/127.0.0.1/${CG_PORT[$job]}") 2>/dev/null; then
        start_bg "$name.client" "0-$(($(nproc) - 1))" "$PY" "$BENCH/tools/seq_client.py" --port "${CG_PORT[$job]}" \
          --path "/${BODY_FILE[$body]}" --count "$count" --expect-len "${BODY_LEN[$body]}" --max-seconds 900
        CG_CPID[$job]=$LAST_PID CG_STATE[$job]=running
      elif ((SECONDS - CG_T0[$job] > 120)); then
        say "callgrind: $name did not listen within 120 s"
        stop_pid "${CG_VPID[$job]}"
        CG_STATE[$job]=failed
      fi
      ;;
    running)
      kill -0 "${CG_CPID[$job]}" 2>/dev/null && return 0
      wait "${CG_CPID[$job]}" || rc=$?
      forget_pid "${CG_CPID[$job]}"
      stop_pid "${CG_VPID[$job]}" 120
      if [ "$rc" -eq 0 ] && [ -s "$RUN/cg/$name.out" ]; then
        CG_IR[$job]=$(callgrind_total "$RUN/cg/$name.out")
        CG_STATE[$job]=finished
      else
        tail -n 5 "$RUN/$name.client.log" "$RUN/$name.log" >&2 || true
        CG_STATE[$job]=failed
      fi
      say "callgrind: $name ${CG_STATE[$job]} after $((SECONDS - CG_T0[$job])) s"
      ;;
  esac
}

if [ "$SKIP_CALLGRIND" != 1 ]; then
  mkdir -p "$RAW/callgrind"
  CALLGRIND_PARALLEL=${CALLGRIND_PARALLEL:-$(nproc)}
  queue=()
  for proxy in sluice $PROXIES; do # sluice (slowest under valgrind) first
    [[ " $PROXIES " == *" $proxy "* ]] || continue
    [[ " ${queue[*]} " == *" $proxy:"* ]] && continue
    for body in $BODIES; do
      queue+=("$proxy:$body:$((CALLGRIND_WARMUP + CALLGRIND_REQUESTS))" "$proxy:$body:$CALLGRIND_WARMUP")
    done
  done
  say "callgrind: ${#queue[@]} runs, $CALLGRIND_PARALLEL at a time ($CALLGRIND_WARMUP and $((CALLGRIND_WARMUP + CALLGRIND_REQUESTS)) requests per proxy and body)"
  active=()
  next=0
  while [ "$next" -lt ${#queue[@]} ] || [ ${#active[@]} -gt 0 ]; do
    while [ ${#active[@]} -lt "$CALLGRIND_PARALLEL" ] && [ "$next" -lt ${#queue[@]} ]; do
      cg_start "${queue[next]}"
      active+=("${queue[next]}")
      next=$((next + 1))
    done
    still=()
    for job in "${active[@]}"; do
      cg_step "$job"
      case ${CG_STATE[$job]} in starting | running) still+=("$job") ;; esac
    done
    active=("${still[@]}")
    sleep 0.2
  done
  for proxy in $PROXIES; do
    for body in $BODIES; do
      w=$proxy:$body:$CALLGRIND_WARMUP f=$proxy:$body:$((CALLGRIND_WARMUP + CALLGRIND_REQUESTS))
      ir_w=${CG_IR[$w]:-} ir_f=${CG_IR[$f]:-} st=ok
      [ -n "$ir_w" ] && [ -n "$ir_f" ] || st="failed (see logs)"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$proxy" "$body" "$CALLGRIND_WARMUP" "$CALLGRIND_REQUESTS" \
        "${ir_w:-0}" "${ir_f:-0}" "$st" >>"$RAW/callgrind.tsv"
      if [ "$st" = ok ]; then
        say "callgrind: $proxy $body: $(((ir_f - ir_w) / CALLGRIND_REQUESTS)) instructions per request"
        out=$RUN/cg/cg-$proxy-$body-$((CALLGRIND_WARMUP + CALLGRIND_REQUESTS)).out
        callgrind_annotate --threshold=100 "$out" 2>/dev/null | head -n 60 >"$RAW/callgrind/$proxy-$body.txt" || true
        callgrind_annotate --threshold=100 --inclusive=yes "$out" 2>/dev/null | head -n 60 \
          >"$RAW/callgrind/$proxy-$body-inclusive.txt" || true
      else
        say "callgrind: $proxy $body: $st"
      fi
    done
  done
fi

# ---------------------------------------------------------------- 10. report
for pid in "${PIDS[@]}"; do stop_pid "$pid" 10; done
PIDS=()
meta run_seconds $(($(date +%s) - START_TIME))
meta build_seconds "$BUILD_SECONDS"
mkdir -p "$OUT_DIR"
rm -rf "$OUT_DIR/raw"
cp -r "$RAW" "$OUT_DIR/raw"
"$PY" "$BENCH/tools/report.py" --raw "$OUT_DIR/raw" --out "$OUT_DIR" --chart "$BENCH/tools/chart.gp"
say "done in $(($(date +%s) - START_TIME)) s: $OUT_DIR/latest.md, $OUT_DIR/latest.png"
