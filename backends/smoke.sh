#!/usr/bin/env bash
# Smoke test for the reference backends: starts sluice-items and sluice-echo on kernel-picked
# ports, exercises every endpoint with curl (and a WebSocket echo via python3 websockets), and
# stops only the processes it started.
#
# usage: backends/smoke.sh [BIN_DIR]      (default: build/bin next to this script's parent)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build/bin}
python=/usr/bin/python3
tmp=$(mktemp -d)
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
pass() { printf 'ok   %s\n' "$1"; }
fail() { printf 'FAIL %s\n' "$1"; failures=$((failures + 1)); }
check() {  # check NAME COMMAND...: passes when the command succeeds
    local name=$1; shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}

# start NAME BINARY ARGS...: runs the binary, waits for "listening on HOST:PORT", sets $addr.
start() {
    local name=$1; shift
    local out=$tmp/$name.out
    "$@" >"$out" 2>"$tmp/$name.err" &
    pids+=($!)
    for _ in $(seq 100); do
        if grep -q '^listening on ' "$out"; then
            addr=$(sed -n 's/^listening on //p' "$out" | head -n1)
            return 0
        fi
        sleep 0.05
    done
    echo "$name did not report its port" >&2
    cat "$tmp/$name.err" >&2
    exit 1
}

# req METHOD URL [curl args...]: prints "STATUS" then the body; headers go to $tmp/h.
req() {
    local method=$1 url=$2; shift 2
    : >"$tmp/b"  # curl leaves the file alone when there is no body (304, HEAD)
    curl -sS -X "$method" -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' "$@" "$url" >"$tmp/code" || true
    code=$(cat "$tmp/code")
    body=$(cat "$tmp/b")
}
has_header() { grep -qi "^$1: $2" "$tmp/h"; }

start items "$bin/sluice-items" --listen 127.0.0.1:0 --name items-1
items=$addr
start echo "$bin/sluice-echo" --listen 127.0.0.1:0 --name echo-1 --threads 2
echo=$addr
echo "items on $items, echo on $echo"

# ---- common endpoints -------------------------------------------------------------------
for a in "$items" "$echo"; do
    req GET "http://$a/healthz"
    check "healthz $a" test "$code" = 200 -a "$body" = '{"status":"ok"}'
done
req GET "http://$items/healthz"
check "X-Backend on items" has_header X-Backend items-1
req GET "http://$echo/healthz"
check "X-Backend on echo" has_header X-Backend echo-1

# ---- items ------------------------------------------------------------------------------
req POST "http://$items/items" -H 'Content-Type: application/json' -d '{"name":"widget","price":9.99}'
check "POST /items 201" test "$code" = 201
check "POST /items body" grep -q '^{"id":1,"name":"widget","price":9.99}$' "$tmp/b"
check "POST /items Location" has_header Location /items/1
req GET "http://$items/items/1"
check "GET /items/1" test "$code" = 200 -a "$body" = '{"id":1,"name":"widget","price":9.99}'
check "GET /items/1 Cache-Control" has_header Cache-Control 'public, max-age=60'
etag=$(tr -d '\r' <"$tmp/h" | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
check "GET /items/1 ETag" test -n "$etag"
req GET "http://$items/items/1" -H "If-None-Match: $etag"
check "GET /items/1 If-None-Match -> 304, no body" test "$code" = 304 -a -z "$body"
check "304 keeps ETag" has_header ETag "$etag"
req GET "http://$items/items/1?cc=max-age%3D0&vary=Accept" -H 'X-Items-Status: 503'
check "X-Items-Status: 503" test "$code" = 503
req GET "http://$items/items/1?cc=max-age%3D0&vary=Accept"
check "?cc= and ?vary=" has_header Cache-Control 'max-age=0'
check "?vary= sends Vary" has_header Vary Accept
req PUT "http://$items/items/1" -d '{"name":"gadget","price":12}'
check "PUT /items/1" test "$code" = 200 -a "$body" = '{"id":1,"name":"gadget","price":12}'
req POST "http://$items/items" -d '{"name":"second","price":1.5}'
req GET "http://$items/items"
check "GET /items list" test "$code" = 200 -a "$body" = \
    '[{"id":1,"name":"gadget","price":12},{"id":2,"name":"second","price":1.5}]'
req POST "http://$items/items" -d '{"name":"x"'
check "POST bad JSON 400" test "$code" = 400
check "POST bad JSON error body" grep -q '"error"' "$tmp/b"
req POST "http://$items/items" -d '{"name":"x","price":"cheap"}'
check "POST ill-typed price 400" test "$code" = 400
req PUT "http://$items/items/1" -d '{"price":3}'
check "PUT missing name 400" test "$code" = 400
req DELETE "http://$items/items/1"
check "DELETE /items/1 204" test "$code" = 204
req GET "http://$items/items/1"
check "GET deleted 404" test "$code" = 404 -a "$body" = '{"error":"not found"}'
req PUT "http://$items/items/99" -d '{"name":"x","price":1}'
check "PUT absent 404" test "$code" = 404
req DELETE "http://$items/items/99"
check "DELETE absent 404" test "$code" = 404
req PATCH "http://$items/items/2"
check "PATCH 405" test "$code" = 405
req GET "http://$items/nope"
check "unknown path 404" test "$code" = 404

# ---- keep-alive and /stats --------------------------------------------------------------
before=$(curl -sS "http://$items/stats")
curl -sS "http://$items/healthz" "http://$items/items" "http://$items/items/2" >/dev/null
after=$(curl -sS "http://$items/stats")
conns() { sed -n 's/.*"connections":\([0-9]*\).*/\1/p' <<<"$1"; }
reqs() { sed -n 's/.*"requests":\([0-9]*\).*/\1/p' <<<"$1"; }
# one connection for the three requests (curl reuses it) plus one for the second /stats
check "stats: keep-alive reused the connection" test $(( $(conns "$after") - $(conns "$before") )) = 2
check "stats: requests counted" test $(( $(reqs "$after") - $(reqs "$before") )) = 4

# ---- echo -------------------------------------------------------------------------------
req POST "http://$echo/echo/sub/path?a=1&b=2" -H 'X-Dup: one' -H 'X-Dup: two' -d 'hello'
check "echo 200" test "$code" = 200
check "echo method/path/query" grep -q '"method":"POST","path":"/echo/sub/path","query":"a=1&b=2"' "$tmp/b"
check "echo joined headers" grep -q '"x-dup":"one, two"' "$tmp/b"
check "echo body length+sha" grep -q \
    '"body_length":5,"body_sha256":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"' "$tmp/b"

head -c $((8 * 1024 * 1024)) /dev/urandom >"$tmp/blob"
sum=$(sha256sum "$tmp/blob" | cut -d' ' -f1)
req PUT "http://$echo/echo" -H 'Transfer-Encoding: chunked' -T "$tmp/blob"
check "echo chunked upload 8 MiB" grep -q "\"body_length\":8388608,\"body_sha256\":\"$sum\"" "$tmp/b"
req PUT "http://$echo/echo" -T "$tmp/blob"
check "echo Content-Length upload 8 MiB" grep -q "\"body_length\":8388608,\"body_sha256\":\"$sum\"" "$tmp/b"
truncate -s 100000000 "$tmp/zeros"   # sparse: 100 MB of zeros without using the disk
sum100=$(sha256sum "$tmp/zeros" | cut -d' ' -f1)
got=$(curl -sS -T "$tmp/zeros" "http://$echo/echo")
check "echo streams 100 MB (Content-Length)" grep -q "\"body_length\":100000000,\"body_sha256\":\"$sum100\"" <<<"$got"
got=$(curl -sS -T - "http://$echo/echo" <"$tmp/zeros")
check "echo streams 100 MB (chunked)" grep -q "\"body_length\":100000000,\"body_sha256\":\"$sum100\"" <<<"$got"

for s in 200 201 204 404 418 503 599; do
    req GET "http://$echo/status/$s"
    check "status/$s" test "$code" = "$s"
done
req GET "http://$echo/status/503"
check "status body" test "$body" = '{"status":503}'
for s in 100 199 600 abc; do
    req GET "http://$echo/status/$s"
    check "status/$s -> 400" test "$code" = 400
done

start_ns=$(date +%s%N)
req GET "http://$echo/delay/300"
elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
check "delay/300 200" test "$code" = 200
check "delay/300 took >= 300 ms ($elapsed_ms)" test "$elapsed_ms" -ge 300
req GET "http://$echo/delay/60001"
check "delay too long 400" test "$code" = 400

pattern_sum() { "$python" -c "import sys,hashlib;n=int(sys.argv[1]);print(hashlib.sha256(bytes(97+i%26 for i in range(n))).hexdigest())" "$1"; }
want=$(pattern_sum 100000)
req GET "http://$echo/bytes/100000"
check "bytes/100000 Content-Length" has_header Content-Length 100000
check "bytes/100000 pattern" test "$(sha256sum <"$tmp/b" | cut -d' ' -f1)" = "$want"
req GET "http://$echo/bytes/100000?chunked=1"
check "bytes chunked Transfer-Encoding" has_header Transfer-Encoding chunked
check "bytes chunked pattern" test "$(sha256sum <"$tmp/b" | cut -d' ' -f1)" = "$want"
raw=$(curl -sS --raw "http://$echo/bytes/40000?chunked=1" | grep -c $'^[0-9a-f]*\r$' || true)
check "bytes chunked: several chunks ($raw size lines)" test "$raw" -ge 3
got=$(curl -sS "http://$echo/bytes/1073741824" | wc -c)
check "bytes/1GiB" test "$got" = 1073741824
req GET "http://$echo/bytes/1073741825"
check "bytes too many 400" test "$code" = 400
curl -sS -I "http://$echo/bytes/1234" -o /dev/null -D "$tmp/h"
check "HEAD bytes Content-Length" has_header Content-Length 1234

set +e
curl -sS -o "$tmp/abort" "http://$echo/abort" 2>/dev/null
rc=$?
set -e
check "abort: curl sees a cut response (rc=$rc)" test "$rc" = 18
check "abort: some body bytes arrived" test "$(wc -c <"$tmp/abort")" -gt 0 -a "$(wc -c <"$tmp/abort")" -lt 1000

req GET "http://$echo/ws"
check "ws without upgrade 426" test "$code" = 426

# ---- malformed input and pipelining (raw sockets) -------------------------------------
if "$python" - "$echo" <<'EOF'; then pass "raw: bad request 400 + close, pipelining in order"; else fail "raw: bad request / pipelining"; fi
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
def exchange(data):
    s = socket.create_connection((host, int(port)))
    s.sendall(data)
    s.settimeout(3)
    out = b""
    while b"__end__" not in out:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        out += d
    s.close()
    return out
r = exchange(b"NOT HTTP AT ALL\r\n\r\n")
assert r.startswith(b"HTTP/1.1 400 "), r
r = exchange(b"GET /delay/100 HTTP/1.1\r\nHost: x\r\n\r\n"
             b"POST /status/201 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
             b"GET /echo?__end__ HTTP/1.1\r\nHost: x\r\n\r\n")
lines = [l for l in r.split(b"\r\n") if b"HTTP/1.1 " in l]
assert len(lines) == 3 and b"200" in lines[0] and b"201" in lines[1] and b"200" in lines[2], r
assert r.index(b"delay_ms") < r.index(b'"status":201') < r.index(b"__end__"), r
EOF

# ---- WebSocket echo (1 MiB) ---------------------------------------------------------------
if "$python" - "$echo" <<'EOF'; then pass "websocket: 1 MiB binary + text echo, close code echoed"; else fail "websocket"; fi
import asyncio, os, sys, websockets
async def main(addr):
    async with websockets.connect(f"ws://{addr}/ws", max_size=32 << 20) as ws:
        data = os.urandom(1 << 20)
        await ws.send(data)
        assert await ws.recv() == data
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.close(code=4000)
        assert ws.close_code == 4000, ws.close_code
asyncio.run(main(sys.argv[1]))
EOF

# ---- shutdown -----------------------------------------------------------------------------
for pid in "${pids[@]}"; do
    kill -TERM "$pid"
    set +e
    wait "$pid"
    rc=$?
    set -e
    check "pid $pid exits 0 on SIGTERM" test "$rc" = 0
done
pids=()
for f in "$tmp"/*.err; do
    if [ -s "$f" ]; then echo "--- $f"; cat "$f"; fi
done

if [ "$failures" -ne 0 ]; then
    echo "smoke: $failures check(s) failed"
    exit 1
fi
echo "smoke: all checks passed"
