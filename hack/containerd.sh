#!/usr/bin/env bash
# Starts or stops a private containerd for raind: its own root, state,
# socket and config under $RAIND_CTRD_DIR, never the host's /run/containerd.
#   hack/containerd.sh start   prints the socket path once containerd answers
#   hack/containerd.sh stop    stops the containerd this script started (by pid)
set -euo pipefail

CACHE=${RAIND_CACHE:-$HOME/.cache/raind}
DIR=${RAIND_CTRD_DIR:-/tmp/raind-containerd}
REPO=$(cd "$(dirname "$0")/.." && pwd)
SOCK=$DIR/containerd.sock

start() {
  mkdir -p "$DIR/root" "$DIR/state"
  cat > "$DIR/config.toml" <<T
version = 3
root = "$DIR/root"
state = "$DIR/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$DIR/debug.sock"
  level = "info"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.raind]
  runtime_type = "io.containerd.raind.v2"
T
  PATH="$REPO/bin:$CACHE/bin:$PATH" setsid "$CACHE/bin/containerd" --config "$DIR/config.toml" \
    >"$DIR/containerd.log" 2>&1 </dev/null &
  echo $! > "$DIR/containerd.pid"
  for _ in $(seq 1 200); do
    if "$CACHE/bin/ctr" --address "$SOCK" version >/dev/null 2>&1; then
      echo "$SOCK"
      return 0
    fi
    sleep 0.05
  done
  echo "containerd did not come up; log: $DIR/containerd.log" >&2
  tail -20 "$DIR/containerd.log" >&2
  stop
  return 1
}

stop() {
  [ -f "$DIR/containerd.pid" ] || return 0
  pid=$(cat "$DIR/containerd.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$DIR/containerd.pid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
