#!/usr/bin/env bash
# The demo stack: installs, builds, then starts two items backends (9001, 9002), one echo
# backend (9003) and sluice on conf/sluice.toml (127.0.0.1:8080). Ctrl-C stops everything
# this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
bin=${BUILD_DIR:-build}/bin

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$bin/sluice-items" --listen 127.0.0.1:9001 --name items-1 & pids+=($!)
"$bin/sluice-items" --listen 127.0.0.1:9002 --name items-2 & pids+=($!)
"$bin/sluice-echo" --listen 127.0.0.1:9003 --name echo-1 & pids+=($!)
"$bin/sluice" -c conf/sluice.toml & pids+=($!)
sleep 1

cat <<'MSG'

Sluice is listening on http://127.0.0.1:8080 (access log on stderr). Try:
  curl -i http://127.0.0.1:8080/
  curl -i -X POST http://127.0.0.1:8080/items -H 'Content-Type: application/json' -d '{"name":"tea","price":3.5}'
  curl -i http://127.0.0.1:8080/items            # round-robin 2:1 over items-1 and items-2 (X-Backend)
  curl -i http://127.0.0.1:8080/api/echo/hello   # rewritten to /echo/hello, headers added
  curl -i http://127.0.0.1:8080/v1/items         # 301 redirect
  curl -s http://127.0.0.1:9901/metrics | grep sluice_requests_total
  kill -HUP <sluice pid>                         # reload conf/sluice.toml
Ctrl-C stops the stack.
MSG
wait "${pids[3]}"
