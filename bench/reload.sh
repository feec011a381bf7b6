#!/usr/bin/env bash
# Reload under load: wrk drives keep-alive requests through sluice while the config is swapped
# 20 times (SIGHUP, alternating two valid files). Passes when wrk reports no socket errors and
# no non-2xx responses. All traffic on 127.0.0.1; bounded (DURATION seconds); every process
# started here is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD_DIR:-build}/bin
DURATION=${DURATION:-10}
[ -x "$BIN/sluice" ] || ./scripts/build.sh
command -v wrk >/dev/null || { echo "reload.sh: wrk is not installed (scripts/install-deps.sh)"; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$BIN/sluice-echo" --listen 127.0.0.1:0 --name echo >"$work/echo.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/echo.log" && break; sleep 0.05; done
backend=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/echo.log")

write_config() {  # $1: a or b (the direct response differs; both serve 200)
  cat >"$work/sluice.toml" <<CONF
[server]
workers = 1
access_log = "off"
[[listener]]
name = "http"
listen = "127.0.0.1:0"
[[upstream]]
name = "echo"
servers = [ "$backend" ]
[[route]]
match = { path_exact = "/version" }
direct_response = { status = 200, body = "$1" }
[[route]]
upstream = "echo"
CONF
}
write_config a
"$BIN/sluice" -c "$work/sluice.toml" >"$work/sluice.log" 2>&1 & sluice_pid=$!; pids+=("$sluice_pid")
for _ in $(seq 100); do grep -q 'listener "http" on' "$work/sluice.log" && break; sleep 0.05; done
port=$(sed -n 's/.*listener "http" on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/sluice.log" | head -1)

wrk -t1 -c20 -d"${DURATION}s" "http://127.0.0.1:$port/echo" >"$work/wrk.txt" 2>&1 & wrk_pid=$!; pids+=("$wrk_pid")
step=$(awk "BEGIN { print $DURATION / 25 }")
for i in $(seq 20); do
  sleep "$step"
  if [ $((i % 2)) -eq 1 ]; then write_config b; else write_config a; fi
  kill -HUP "$sluice_pid"
done
wait "$wrk_pid" || true
cat "$work/wrk.txt"
reloads=$(grep -c "config reloaded" "$work/sluice.log" || true)
echo "reloads applied: $reloads"
if grep -qE "Socket errors|Non-2xx" "$work/wrk.txt" || [ "$reloads" -ne 20 ]; then
  echo "reload.sh: FAILED (errors during reloads, or not every reload applied)"
  exit 1
fi
echo "reload.sh: zero errors and zero non-2xx responses across 20 reloads"
