#!/usr/bin/env bash
# Set up everything pytest-asyncplay needs on a fresh Debian machine, idempotently and quickly when
# it is all there: Debian's docker.io and debootstrap, a running dockerd, the virtualenv .venv with
# the package and its test extras, and the target image (built once, cached by content hash).
# ASYNCPLAY_ENGINE=podman: Podman's Docker-compatible API (scripts/podman.sh) instead of dockerd, and the
# target image made there; then run pytest with DOCKER_HOST=unix:///run/asyncplay-podman.sock.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ENGINE=${ASYNCPLAY_ENGINE:-docker}
case "$ENGINE" in docker|podman) ;; *) log "ASYNCPLAY_ENGINE=$ENGINE: use docker (the default) or podman"; exit 2 ;; esac

need_apt=()
[ "$ENGINE" != docker ] || command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need_apt+=(debootstrap)
command -v ssh >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || need_apt+=(iproute2)  # scripts/second-engine.sh: its bridge
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium fonts-dejavu-core)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing ${need_apt[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ "$ENGINE" = podman ]; then
  eval "$(bash scripts/podman.sh)"  # installs podman if missing, starts its API service, exports DOCKER_HOST
elif ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  as_root sh -c 'nohup dockerd >/var/log/asyncplay-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not come up; see /var/log/asyncplay-dockerd.log"; exit 1; }
fi

PY=${ASYNCPLAY_PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.asyncplay-installed
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing the package with its test extras"
  .venv/bin/pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi

# Never ask a registry from here: the base is debootstrapped when it is missing.
# With Podman the image is copied from the local Docker engine when that has it, else made there.
ASYNCPLAY_PULL=${ASYNCPLAY_PULL:-never} .venv/bin/python -m pytest_asyncplay image >/dev/null
if [ "$ENGINE" = podman ]; then
  log "ready: run pytest with DOCKER_HOST=$DOCKER_HOST"
else
  log "ready"
fi
