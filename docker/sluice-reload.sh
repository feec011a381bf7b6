#!/bin/bash
# sluice-reload: the Kubernetes reload sidecar. Polls the mounted config file and sends SIGHUP
# to the sluice process when the file's content changes; sluice then validates the new file,
# swaps its config snapshot (in-flight requests keep the old one) or, when the file is
# invalid, keeps the old config, logs why and counts sluice_config_reloads_total{result=...}.
#
# The pod needs `shareProcessNamespace: true` (so this container sees sluice's process) and
# both containers must run as the same user (a process may signal its own user's processes
# without any capability). Mount the ConfigMap as a directory, never with subPath: the kubelet
# updates directory mounts in place (an atomic ..data symlink swap) but never subPath ones.
#
# Environment:
#   SLUICE_CONFIG        file to watch (default /etc/sluice/sluice.toml)
#   RELOAD_INTERVAL      seconds between checks, fractions allowed (default 5)
#   SLUICE_PROCESS_NAME  process name (/proc/PID/comm) to signal (default sluice)
set -euo pipefail

config=${SLUICE_CONFIG:-/etc/sluice/sluice.toml}
interval=${RELOAD_INTERVAL:-5}
name=${SLUICE_PROCESS_NAME:-sluice}

log() {
  printf '%s sluice-reload: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

# sha256 of the file's content, or "" when it cannot be read (mid-update, or not mounted yet).
digest() {
  local sum
  sum=$(sha256sum <"$config" 2>/dev/null) || return 0
  printf '%s' "${sum%% *}"
}

# PIDs whose command name is exactly $name, this script excluded.
find_pids() {
  local dir comm pid
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    comm=""
    IFS= read -r comm 2>/dev/null <"$dir/comm" || continue
    if [[ $comm == "$name" ]]; then
      printf '%s\n' "$pid"
    fi
  done
}

trap 'log "stopping"; exit 0' TERM INT

applied=$(digest)
log "watching $config every ${interval}s; SIGHUP goes to processes named '$name'"
while true; do
  # sleep in the background so that SIGTERM is handled at once, not after the sleep
  sleep "$interval" &
  wait $! || true
  current=$(digest)
  if [[ -z $current || $current == "$applied" ]]; then
    continue
  fi
  mapfile -t pids < <(find_pids)
  if ((${#pids[@]} == 0)); then
    log "config changed but no process named '$name' is running; retrying"
    continue
  fi
  if kill -HUP "${pids[@]}"; then
    log "config changed (sha256 ${current:0:12}): sent SIGHUP to pid ${pids[*]}"
    applied=$current
  else
    log "could not signal pid ${pids[*]}; retrying"
  fi
done
