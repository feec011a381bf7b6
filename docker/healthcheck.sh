#!/bin/bash
# sluice-healthcheck [HOST:PORT] [PATH]: exit 0 when GET PATH on HOST:PORT answers 200, else 1.
# Used by the images' HEALTHCHECK. Plain bash (/dev/tcp), so the slim images need no curl.
# Defaults: $HEALTHCHECK_ADDR or 127.0.0.1:9901 (sluice's admin listener), $HEALTHCHECK_PATH or
# /healthz. HEALTHCHECK_TIMEOUT (seconds, default 2) bounds the wait for the status line.
set -u

addr=${1:-${HEALTHCHECK_ADDR:-127.0.0.1:9901}}
path=${2:-${HEALTHCHECK_PATH:-/healthz}}
timeout=${HEALTHCHECK_TIMEOUT:-2}

host=${addr%:*}
port=${addr##*:}
host=${host#[}
host=${host%]}
if [[ -z $host || -z $port || $addr != *:* ]]; then
  echo "sluice-healthcheck: expected HOST:PORT, got '$addr'" >&2
  exit 2
fi

if ! exec 3<>"/dev/tcp/$host/$port"; then
  echo "sluice-healthcheck: cannot connect to $addr" >&2
  exit 1
fi
printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$addr" >&3

status=""
if ! IFS= read -r -t "$timeout" status <&3; then
  echo "sluice-healthcheck: no answer from $addr$path within ${timeout}s" >&2
  exit 1
fi
exec 3<&-
status=${status%$'\r'}
case $status in
  "HTTP/1."[01]" 200"*) exit 0 ;;
esac
echo "sluice-healthcheck: $addr$path answered '$status'" >&2
exit 1
