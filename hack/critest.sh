#!/usr/bin/env bash
# make critest: cri-tools' CRI validation suite (critest) against a private
# containerd whose CRI runs containers with raind, and, for comparison,
# with containerd's runc shim. Everything it starts it stops, whatever
# happens: the registry, containerd and its shims, mounts, the CNI bridge,
# the pods' cgroups.
#
#   CRITEST_HANDLER   the runtime handlers to test, in order: raind (default),
#                     runc, or "raind runc"
#   CRITEST_SKIP      a regex of tests to skip; default: the ones that cannot
#                     run on a test machine (the README's critest section says why)
#   CRITEST_FOCUS     a regex: only these tests
#   CRITEST_ARGS      more critest flags
#   CRITEST_OUT       keep the logs and JSON reports here (default: a
#                     temporary directory, removed at the end)
#
# The images critest pulls are built from the busybox rootfs and served by
# hack/critest-registry on a loopback port; containerd's CRI gets them from
# there for registry.k8s.io, k8s.gcr.io, gcr.io and docker.io names.
set -euo pipefail
set +m

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${RAIND_CACHE:-$HOME/.cache/raind}
export RAIND_CACHE=$CACHE
HANDLERS=${CRITEST_HANDLER:-raind}
# A CNI bridge and subnet of its own, apart from the integration tests'.
export RAIND_CRI_BRIDGE=${RAIND_CRI_BRIDGE:-raindct0}
export RAIND_CRI_SUBNET=${RAIND_CRI_SUBNET:-10.78.3.0/24}

# Tests that cannot run here; the README's critest section gives each one's reason.
# (The AppArmor tests skip themselves where AppArmor is off, and the
# SELinux tests exist only where SELinux is on.)
DEFAULT_SKIP_PARTS=(
  # The digest is of upstream's multi-arch image: no local build has it.
  'public image with digest should be pulled and removed'
)
DEFAULT_SKIP=$(IFS='|'; echo "${DEFAULT_SKIP_PARTS[*]}")
SKIP=${CRITEST_SKIP-$DEFAULT_SKIP}

log() { echo "critest: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (containerd, CNI, mounts, cgroups)"
for h in $HANDLERS; do
  case $h in raind | runc) ;; *) die "unknown handler $h (raind or runc)" ;; esac
done

# Dependencies, each cached in $CACHE.
if [[ " $HANDLERS " == *" runc "* ]]; then
  RAIND_WITH_RUNC=1 "$REPO/hack/install-deps.sh" >/dev/null
else
  "$REPO/hack/install-deps.sh" >/dev/null
fi
REGISTRY_BIN=$CACHE/bin/critest-registry
NNP=$CACHE/critest/nnp
src_stamp() { cat "$REPO"/hack/critest-registry/*.go "$REPO/go.sum" | sha256sum | cut -d' ' -f1; }
if [ ! -x "$REGISTRY_BIN" ] || [ "$(cat "$REGISTRY_BIN.stamp" 2>/dev/null)" != "$(src_stamp)" ]; then
  log "building hack/critest-registry into $REGISTRY_BIN (under a minute)"
  (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$REGISTRY_BIN.new" ./hack/critest-registry)
  mv "$REGISTRY_BIN.new" "$REGISTRY_BIN"
  src_stamp >"$REGISTRY_BIN.stamp"
fi
nnp_stamp=$(sha256sum "$REPO/hack/nnp/nnp.c" | cut -d' ' -f1)
if [ ! -x "$NNP" ] || [ "$(cat "$NNP.stamp" 2>/dev/null)" != "$nnp_stamp" ]; then
  mkdir -p "$(dirname "$NNP")"
  "$(command -v musl-gcc || echo gcc)" -static -Os -o "$NNP.new" "$REPO/hack/nnp/nnp.c"
  mv "$NNP.new" "$NNP"
  echo "$nnp_stamp" >"$NNP.stamp"
fi

# The busybox of the images: Debian's busybox-static (the rootfs's) runs
# applets inside its shell without exec ("standalone shell"), so a masked
# /bin/ls would still run, where critest's MaskedPaths test expects
# "/bin/sh: ls: Permission denied". Debian's dynamically linked busybox
# execs them, as the busybox images upstream's tests use do: it goes into
# the images, with the libraries it needs, fetched with `apt-get download`
# (not installed: it conflicts with busybox-static).
BUSYBOX_DIR=$CACHE/critest/busybox
if [ ! -x "$BUSYBOX_DIR/bin/busybox" ]; then
  log "fetching Debian's busybox package for the test images (seconds)"
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download busybox >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get download busybox >/dev/null; }; }) ||
    die "apt-get download busybox failed"
  rm -rf "$BUSYBOX_DIR.new"
  dpkg-deb -x "$tmp"/busybox_*.deb "$BUSYBOX_DIR.new"
  rm -rf "$tmp" "$BUSYBOX_DIR"
  mv "$BUSYBOX_DIR.new" "$BUSYBOX_DIR"
fi
BUSYBOX_ARGS=(-busybox "$BUSYBOX_DIR/bin/busybox")
# Its libraries, at the paths its ELF header and ld.so look at.
while read -r lib; do
  BUSYBOX_ARGS+=(-lib "$lib")
done < <(ldd "$BUSYBOX_DIR/bin/busybox" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }')

# Short: containerd's shim socket directory lives under it.
WORK=$(mktemp -d /tmp/raind-ct.XXXXXX)
# Searchable, as /run/containerd is on a real host: the UserNamespaces
# tests' container root walks through it to its rootfs.
chmod 0711 "$WORK"
OUT=${CRITEST_OUT:-$WORK/out}
mkdir -p "$OUT"
REG_PID=
BRIDGE_OURS=0
ip link show "$RAIND_CRI_BRIDGE" >/dev/null 2>&1 || BRIDGE_OURS=1
# The cgroups CRI makes for pods without a parent (critest gives none
# under cgroupfs): top-level k8s.io, unless it was there before us.
CGROUPS_OURS=()
for d in /sys/fs/cgroup/*/; do
  [ -e "${d}k8s.io" ] || CGROUPS_OURS+=("${d}k8s.io")
done

# rmdir_tree DIR: removes the empty cgroup directories under DIR, deepest
# first (a cgroup directory holds only the kernel's files, which rmdir takes).
rmdir_tree() {
  [ -d "$1" ] || return 0
  find "$1" -depth -type d -exec rmdir {} \; 2>/dev/null || true
}

cleanup() {
  local status=$?
  set +e
  if [ -n "${RAIND_CTRD_DIR:-}" ] && [ -d "$RAIND_CTRD_DIR" ]; then
    "$REPO/hack/containerd.sh" destroy
  fi
  if [ -n "$REG_PID" ] && kill -0 "$REG_PID" 2>/dev/null; then
    kill -TERM "$REG_PID"
    wait "$REG_PID" 2>/dev/null
  fi
  if [ "$BRIDGE_OURS" = 1 ] && ip link show "$RAIND_CRI_BRIDGE" >/dev/null 2>&1; then
    ip link del "$RAIND_CRI_BRIDGE"
  fi
  local d
  for d in "${CGROUPS_OURS[@]}"; do rmdir_tree "$d"; done
  rm -rf "$WORK"
  [ -n "${CRITEST_OUT:-}" ] && log "logs and reports in $OUT"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$REGISTRY_BIN" -rootfs "$CACHE/rootfs/busybox" -nnp "$NNP" "${BUSYBOX_ARGS[@]}" -listen 127.0.0.1:0 \
  -addr-file "$WORK/registry.addr" </dev/null >"$OUT/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 1 300); do
  [ -s "$WORK/registry.addr" ] && break
  kill -0 "$REG_PID" 2>/dev/null || { cat "$OUT/registry.log" >&2; die "the registry did not start"; }
  sleep 0.1
done
[ -s "$WORK/registry.addr" ] || die "the registry did not come up in 30s"
export RAIND_CRI_REGISTRY
RAIND_CRI_REGISTRY=$(cat "$WORK/registry.addr")

declare -A RESULT
overall=0
for h in $HANDLERS; do
  # A containerd of its own for each handler: nothing one leaves behind
  # can change the other's results.
  export RAIND_CTRD_DIR=$WORK/c-$h
  SOCK=$("$REPO/hack/containerd.sh" start)
  "$CACHE/bin/ctr" --address "$SOCK" --namespace k8s.io images import "$CACHE/pause.tar" >/dev/null 2>&1 ||
    die "import of the pause image failed"
  args=(-runtime-endpoint "unix://$SOCK" -image-endpoint "unix://$SOCK" -runtime-handler "$h"
    -ginkgo.no-color -ginkgo.json-report "$OUT/critest-$h.json")
  [ -n "$SKIP" ] && args+=(-ginkgo.skip "$SKIP")
  [ -n "${CRITEST_FOCUS:-}" ] && args+=(-ginkgo.focus "$CRITEST_FOCUS")
  # shellcheck disable=SC2206 # CRITEST_ARGS is split on purpose
  args+=(${CRITEST_ARGS:-})
  log "running critest with runtime handler $h (3 to 6 minutes); log $OUT/critest-$h.log"
  start=$(date +%s)
  status=0
  (cd "$WORK" && "$CACHE/bin/critest" "${args[@]}") >"$OUT/critest-$h.log" 2>&1 || status=$?
  secs=$(($(date +%s) - start))
  [ "$status" -eq 0 ] || overall=1
  cp "$RAIND_CTRD_DIR/containerd.log" "$OUT/containerd-$h.log" 2>/dev/null || true
  "$REPO/hack/containerd.sh" destroy
  counts=$(grep -E '^(SUCCESS|FAIL)! -- ' "$OUT/critest-$h.log" | tail -n1 | sed 's/^[A-Z]*! -- //')
  RESULT[$h]="${counts:-no summary (exit $status)} in $((secs / 60))m$((secs % 60))s"
  # The failed tests' names, as ginkgo summarises them.
  awk '/^Summarizing [0-9]+ Failure/{p=1;next} p && /^ *\[FAIL\]/{print}' "$OUT/critest-$h.log" >"$OUT/failed-$h.txt"
done

echo
echo "critest summary (skipped on purpose: ${SKIP:-nothing})"
for h in $HANDLERS; do
  echo "$h: ${RESULT[$h]}"
  cat "$OUT/failed-$h.txt"
done
exit "$overall"
