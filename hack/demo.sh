#!/usr/bin/env bash
# make demo: a container run through raind by a private containerd.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${RAIND_CACHE:-$HOME/.cache/raind}
export RAIND_CTRD_DIR=${RAIND_CTRD_DIR:-$(mktemp -d /tmp/raind-demo.XXXXXX)}
SOCK=$("$REPO/hack/containerd.sh" start)
trap '"$REPO/hack/containerd.sh" stop; rm -rf "$RAIND_CTRD_DIR"; rmdir /sys/fs/cgroup/*/raind-demo 2>/dev/null || true' EXIT
ctr() { "$CACHE/bin/ctr" --address "$SOCK" --namespace raind-demo "$@" 2> >(grep -v DEPRECATION >&2); }

echo "== containerd-shim-raind-v2 -v"
"$REPO/bin/containerd-shim-raind-v2" -v
echo
echo "== ctr run --rm --runtime io.containerd.raind.v2 --rootfs busybox demo …"
ctr run --rm --runtime io.containerd.raind.v2 --hostname raind-demo \
  --rootfs "$CACHE/rootfs/busybox" demo1 \
  /bin/sh -c 'echo "hello from raind: pid $$ on $(hostname)"; id; mount | grep -E " / | /proc | /sys "; echo "memory cgroup: $(grep memory /proc/self/cgroup)"'
echo
echo "== the same from an imported OCI image, through the overlayfs snapshotter"
ctr images import "$CACHE/busybox.tar" >/dev/null
ctr run --rm --runtime io.containerd.raind.v2 docker.io/library/busybox:raind demo2 \
  /bin/sh -c 'echo "hello again, from an image"; exit 3' || echo "container exited with status $? (expected 3)"
