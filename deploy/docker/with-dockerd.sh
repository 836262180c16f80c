#!/usr/bin/env bash
# Runs a command against a private Docker engine: installs Debian's docker.io (plus debootstrap
# and iptables, which image builds and container networking need) when missing, starts dockerd
# on its own socket, data-root, exec-root and pidfile, runs the command with DOCKER_HOST set,
# then stops that dockerd. If the socket already answers, the command just runs against it.
# Usage: deploy/docker/with-dockerd.sh <command> [args...]
set -euo pipefail
STATE="${TRIFORCE_DOCKER_STATE:-/var/lib/triforce-docker}"
RUN_DIR=/run/triforce-docker
SOCK="$RUN_DIR.sock"
export DOCKER_HOST="unix://$SOCK"

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v iptables >/dev/null || missing+=(iptables)
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  exec "$@"
fi

mkdir -p "$STATE/data" "$RUN_DIR"
dockerd -H "$DOCKER_HOST" --data-root "$STATE/data" --exec-root "$RUN_DIR" \
  --pidfile "$RUN_DIR.pid" >"$STATE/dockerd.log" 2>&1 &
DOCKERD_PID=$!
stop_dockerd() {
  kill "$DOCKERD_PID" 2>/dev/null || true
  wait "$DOCKERD_PID" 2>/dev/null || true
}
trap stop_dockerd EXIT
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && break
  kill -0 "$DOCKERD_PID" 2>/dev/null || { cat "$STATE/dockerd.log" >&2; exit 1; }
  sleep 0.5
done
docker info >/dev/null
"$@"
