#!/usr/bin/env bash
# Podman as the engine: Podman's Docker-compatible API on a unix socket, which the docker SDK (and so
# pytest-asyncplay) reaches through DOCKER_HOST. Installs podman (Debian's) if missing, sets
# `default_ulimits = []` under [containers] in containers.conf (Podman's default open-files limit can be
# above the machine's hard limit, and runc then refuses every container), and runs
# `podman system service --time=0` in the background with a pidfile. Idempotent; stops only the service
# it started.
#
#   bash scripts/podman.sh            # start it (if not running), wait until it answers, print the export
#   bash scripts/podman.sh stop       # stop the service this script started (its containers keep running)
#   bash scripts/podman.sh status     # exit 0 if it answers
#
# Then: eval "$(bash scripts/podman.sh)"   # or DOCKER_HOST=unix:///run/asyncplay-podman.sock .venv/bin/pytest ...
set -euo pipefail

SOCKET=${ASYNCPLAY_PODMAN_SOCKET:-/run/asyncplay-podman.sock}
PIDFILE=${ASYNCPLAY_PODMAN_PIDFILE:-/run/asyncplay-podman.pid}
LOG=${ASYNCPLAY_PODMAN_LOG:-/var/log/asyncplay-podman.log}
CONF=${ASYNCPLAY_PODMAN_CONF:-/etc/containers/containers.conf}
HOST="unix://$SOCKET"

log() { printf '[podman] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
answers() { [ -S "$SOCKET" ] && podman --remote --url "$HOST" version >/dev/null 2>&1; }
our_pid() {  # the pid in our pidfile, if that process is alive and is a podman
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = podman ] || return 1
  echo "$pid"
}

# `default_ulimits = []` under [containers], replacing any other value of it there (one line or an array
# over several lines); every other line of the file is kept. Written only when it changes.
set_ulimits() {
  local current wanted
  current=$(cat "$CONF" 2>/dev/null || true)
  wanted=$(printf '%s\n' "$current" | awk '
    skip { if ($0 ~ /\]/) skip = 0; next }
    /^[[:space:]]*\[/ && $0 !~ /^[[:space:]]*\[\[/ && $0 !~ /=/ {  # a table header
      section = ($0 ~ /^[[:space:]]*\[containers\]/)
      print
      if (section && !done) { print "default_ulimits = []"; done = 1 }
      next
    }
    section && /^[[:space:]]*default_ulimits[[:space:]]*=/ { if ($0 ~ /\[/ && $0 !~ /\]/) skip = 1; next }
    { print }
    END { if (!done) { print ""; print "[containers]"; print "default_ulimits = []" } }
  ' | sed -e '/./,$!d')  # no blank lines at the top (a new file)
  [ "$current" = "$wanted" ] && return 0
  log "setting default_ulimits = [] under [containers] in $CONF"
  as_root mkdir -p "$(dirname "$CONF")"
  printf '%s\n' "$wanted" | as_root tee "$CONF.asyncplay-new" >/dev/null
  as_root mv "$CONF.asyncplay-new" "$CONF"
}

case "${1:-start}" in
  status)
    answers && { log "running at $HOST (pid $(our_pid || echo '?'))"; exit 0; }
    log "not answering at $HOST"; exit 1 ;;
  stop)
    if pid=$(our_pid); then
      log "stopping podman system service $pid"
      as_root kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && { log "podman $pid did not stop in 30s; see $LOG"; exit 1; }
      as_root rm -f "$PIDFILE"
    else
      log "not running (no live podman in $PIDFILE)"
    fi
    exit 0 ;;
  start) ;;
  *) log "usage: $0 [start|stop|status]"; exit 2 ;;
esac

need_apt=()
command -v podman >/dev/null 2>&1 || need_apt+=(podman)
# --init (every host runs under an init) needs Podman's init binary, a recommends of the podman package
[ -x /usr/libexec/podman/catatonit ] || need_apt+=(catatonit)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing ${need_apt[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
set_ulimits
if answers; then
  echo "export DOCKER_HOST=$HOST"
  exit 0
fi
if pid=$(our_pid); then  # ours, but not answering yet (still starting): wait below
  log "podman $pid is starting"
else
  as_root rm -f "$SOCKET"  # a stale socket of a service that died
  log "starting podman system service at $HOST (log: $LOG)"
  as_root sh -c 'nohup "$@" >>"'"$LOG"'" 2>&1 </dev/null & echo $! >"'"$PIDFILE"'"' sh \
    podman system service --time=0 "$HOST"
fi
for _ in $(seq 1 120); do answers && break; sleep 0.5; done
if ! answers; then
  log "podman did not answer at $HOST within 60s; the end of $LOG:"
  tail -n 20 "$LOG" >&2 || true
  exit 1
fi
log "running at $HOST (pid $(our_pid || echo '?'), $(podman --remote --url "$HOST" version --format '{{.Server.Version}}' 2>/dev/null))"
echo "export DOCKER_HOST=$HOST"
