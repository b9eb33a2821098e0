#!/usr/bin/env bash
# Installs what raind's demo and tests need, idempotently, into a cache:
# containerd, ctr and the runc shim built from the Go module proxy, and a
# busybox rootfs (plus an importable OCI image of it) from Debian's
# busybox-static.
set -euo pipefail

CACHE=${RAIND_CACHE:-$HOME/.cache/raind}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
BIN=$CACHE/bin
mkdir -p "$BIN"

log() { echo "deps: $*" >&2; }

need_apt=()
command -v gcc >/dev/null || need_apt+=(gcc libc6-dev)
[ -x /bin/busybox ] || need_apt+=(busybox-static)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! { [ -x "$BIN/containerd" ] && "$BIN/containerd" --version 2>/dev/null | grep -q " ${CONTAINERD_VERSION#v}"; } \
   || [ ! -x "$BIN/ctr" ] || [ ! -x "$BIN/containerd-shim-runc-v2" ]; then
  log "building containerd $CONTAINERD_VERSION from the Go module proxy"
  tmp=$(mktemp -d)
  (cd "$tmp" && GOBIN=$BIN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install -tags "no_btrfs no_devmapper no_zfs" \
    "github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION")
  rm -rf "$tmp"
fi

ROOTFS=$CACHE/rootfs/busybox
if [ ! -x "$ROOTFS/bin/busybox" ] || ! cmp -s /bin/busybox "$ROOTFS/bin/busybox"; then
  log "building busybox rootfs in $ROOTFS"
  rm -rf "$ROOTFS.new"
  mkdir -p "$ROOTFS.new"/{bin,sbin,etc,proc,sys,dev,tmp,root,home/app,var,run,usr/bin}
  chmod 1777 "$ROOTFS.new/tmp"
  cp /bin/busybox "$ROOTFS.new/bin/busybox"
  for app in $(/bin/busybox --list); do
    [ "$app" = busybox ] || ln -sf busybox "$ROOTFS.new/bin/$app"
  done
  cat > "$ROOTFS.new/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
  cat > "$ROOTFS.new/etc/group" <<'G'
root:x:0:
app:x:1000:
nogroup:x:65534:
G
  printf '127.0.0.1 localhost\n::1 localhost\n' > "$ROOTFS.new/etc/hosts"
  chown 1000:1000 "$ROOTFS.new/home/app"
  rm -rf "$ROOTFS" && mv "$ROOTFS.new" "$ROOTFS"
  rm -f "$CACHE/busybox.tar"
fi

# An OCI image of the same rootfs, so tests can run through a snapshotter.
IMAGE=$CACHE/busybox.tar
if [ ! -f "$IMAGE" ]; then
  log "building OCI image $IMAGE"
  work=$(mktemp -d)
  mkdir -p "$work/blobs/sha256"
  tar --numeric-owner -C "$ROOTFS" -cf "$work/layer.tar" .
  layer=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  mv "$work/layer.tar" "$work/blobs/sha256/$layer"
  lsize=$(stat -c %s "$work/blobs/sha256/$layer")
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" > "$work/config.json"
  config=$(sha256sum "$work/config.json" | cut -d' ' -f1)
  csize=$(stat -c %s "$work/config.json")
  mv "$work/config.json" "$work/blobs/sha256/$config"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config" "$csize" "$layer" "$lsize" > "$work/manifest.json"
  manifest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
  msize=$(stat -c %s "$work/manifest.json")
  mv "$work/manifest.json" "$work/blobs/sha256/$manifest"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"docker.io/library/busybox:raind","org.opencontainers.image.ref.name":"raind"}}]}' \
    "$manifest" "$msize" > "$work/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$work/oci-layout"
  tar -C "$work" -cf "$IMAGE.tmp" oci-layout index.json blobs
  mv "$IMAGE.tmp" "$IMAGE"
  rm -rf "$work"
fi
echo "$CACHE"
