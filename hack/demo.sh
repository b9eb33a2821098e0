#!/usr/bin/env bash
# make demo: containers run through raind by a private containerd, which
# is stopped and removed again at the end whatever happens.
# Expects `make build` and hack/install-deps.sh to have run (make demo does both).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${RAIND_CACHE:-$HOME/.cache/raind}
ROOTFS=$CACHE/rootfs/busybox
RUNTIME=io.containerd.raind.v2
export RAIND_CACHE=$CACHE
export RAIND_CTRD_DIR=${RAIND_CTRD_DIR:-$(mktemp -d /tmp/raind-demo.XXXXXX)}

trap '"$REPO/hack/containerd.sh" destroy; rmdir /sys/fs/cgroup/*/raind-demo 2>/dev/null || true' EXIT
SOCK=$("$REPO/hack/containerd.sh" start)
# containerd 2.x warns about cgroup v1 on every ctr call; the demo hides that.
ctr() { "$CACHE/bin/ctr" --address "$SOCK" --namespace raind-demo "$@" 2> >(grep -v DEPRECATION >&2); }

echo "== containerd-shim-raind-v2 -v"
"$REPO/bin/containerd-shim-raind-v2" -v
echo
echo "== ctr run --rm --runtime $RUNTIME --hostname raind-demo1 --rootfs $ROOTFS demo1 /bin/sh -c '…'"
ctr run --rm --runtime "$RUNTIME" --hostname raind-demo1 --rootfs "$ROOTFS" demo1 \
  /bin/sh -c 'echo hello from raind; uname -a; id; hostname'
echo
echo "== the same from an imported OCI image, through the overlayfs snapshotter"
ctr images import "$CACHE/busybox.tar" >/dev/null
status=0
ctr run --rm --runtime "$RUNTIME" docker.io/library/busybox:raind demo2 \
  /bin/sh -c 'echo "hello again, from an image, as pid $$"; exit 3' || status=$?
echo "container exited with status $status (expected 3)"
[ "$status" -eq 3 ]

echo
echo "== exec into a running container"
ctr run -d --runtime "$RUNTIME" --hostname raind-demo4 --rootfs "$ROOTFS" demo4 sleep 1000 >/dev/null
ctr task exec --exec-id hello demo4 /bin/sh -c 'echo "exec sees hostname $(hostname) and pid 1 = $(cat /proc/1/comm)"'
ctr task kill -s SIGKILL demo4 >/dev/null
sleep 0.2
ctr task delete demo4 >/dev/null 2>&1 || true
ctr container delete demo4 >/dev/null

echo
if [ -t 0 ] && [ -t 1 ]; then
  echo "== an interactive shell in a raind container, on a pty made inside it (exit or Ctrl-D to leave)"
  ctr run --rm -t --runtime "$RUNTIME" --hostname raind-shell --rootfs "$ROOTFS" demo3 /bin/sh || true
else
  # No terminal here: script(1) gives ctr one and types for us.
  echo "== a scripted terminal session in a raind container (run make demo from a terminal for a shell)"
  {
    sleep 1
    printf 'tty; stty size; echo "prompt works: $((6*7))"\n'
    sleep 1
    printf 'exit 5\n'
    sleep 1
  } | script -qec "stty rows 24 cols 80 2>/dev/null; $CACHE/bin/ctr --address $SOCK --namespace raind-demo run --rm -t --runtime $RUNTIME --hostname raind-shell --rootfs $ROOTFS demo3 /bin/sh" /dev/null \
    | tr -d '\r' | grep -v DEPRECATION || true
fi
