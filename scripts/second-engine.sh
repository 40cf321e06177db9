#!/usr/bin/env bash
# A second Docker engine beside the first, on this machine, for the remote-engine tests: its own bridge
# (br-asyncplay2, 10.99.0.1/24), data root, exec root (and so its own containerd), no iptables rules, and
# an API on tcp://127.0.0.2:2375 only (loopback). Idempotent; stops only the dockerd it started (pidfile).
#
#   bash scripts/second-engine.sh            # start it (if not running), wait until it answers, print the export
#   bash scripts/second-engine.sh stop       # stop the dockerd this script started (its containers stop with it)
#   bash scripts/second-engine.sh status     # exit 0 if it answers
#
# Then: eval "$(bash scripts/second-engine.sh)"   # or DOCKER_HOST=tcp://127.0.0.2:2375 .venv/bin/pytest ...
set -euo pipefail

ADDRESS=${ASYNCPLAY_ENGINE2_ADDRESS:-127.0.0.2}
PORT=${ASYNCPLAY_ENGINE2_PORT:-2375}
BRIDGE=${ASYNCPLAY_ENGINE2_BRIDGE:-br-asyncplay2}
BRIDGE_CIDR=${ASYNCPLAY_ENGINE2_CIDR:-10.99.0.1/24}
DATA_ROOT=/var/lib/docker-2
EXEC_ROOT=/var/run/docker-2
PIDFILE=/var/run/docker-2.pid
LOG=/var/log/asyncplay-docker-2.log
HOST="tcp://$ADDRESS:$PORT"

log() { printf '[second-engine] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
answers() { docker -H "$HOST" info >/dev/null 2>&1; }
our_pid() {  # the pid in our pidfile, if that process is alive and is a dockerd
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
  echo "$pid"
}

case "${1:-start}" in
  status)
    answers && { log "running at $HOST (pid $(our_pid || echo '?'))"; exit 0; }
    log "not answering at $HOST"; exit 1 ;;
  stop)
    if pid=$(our_pid); then
      log "stopping dockerd $pid"
      as_root kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && { log "dockerd $pid did not stop in 30s; see $LOG"; exit 1; }
    else
      log "not running (no live dockerd in $PIDFILE)"
    fi
    exit 0 ;;
  start) ;;
  *) log "usage: $0 [start|stop|status]"; exit 2 ;;
esac

if answers; then
  echo "export DOCKER_HOST=$HOST"
  exit 0
fi
if pid=$(our_pid); then  # ours, but not answering yet (still starting): wait below
  log "dockerd $pid is starting"
else
  command -v dockerd >/dev/null 2>&1 || { log "dockerd is not installed (bash scripts/setup.sh installs it)"; exit 1; }
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "creating bridge $BRIDGE ($BRIDGE_CIDR)"
    as_root ip link add "$BRIDGE" type bridge
  fi
  ip -4 addr show dev "$BRIDGE" | grep -qF "inet $BRIDGE_CIDR " || as_root ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
  as_root ip link set "$BRIDGE" up
  as_root mkdir -p "$DATA_ROOT" "$EXEC_ROOT"
  log "starting dockerd at $HOST (log: $LOG)"
  # --iptables=false: no NAT and no filter rules on this machine; the published ports go through
  # docker-proxy on $ADDRESS. --ip-forward=false / --ip-masq=false: leave the kernel's settings alone.
  as_root sh -c 'nohup "$@" >>"'"$LOG"'" 2>&1 </dev/null &' sh \
    dockerd --host "$HOST" --bridge "$BRIDGE" --iptables=false --ip-forward=false --ip-masq=false \
      --ip "$ADDRESS" --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" --pidfile "$PIDFILE" \
      --cgroup-parent docker-2 --userland-proxy=true
fi
for _ in $(seq 1 120); do answers && break; sleep 0.5; done
if ! answers; then
  log "dockerd did not answer at $HOST within 60s; the end of $LOG:"
  tail -n 20 "$LOG" >&2 || true
  exit 1
fi
log "running at $HOST (pid $(our_pid || echo '?'))"
echo "export DOCKER_HOST=$HOST"
