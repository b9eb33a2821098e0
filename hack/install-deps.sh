#!/usr/bin/env bash
# Installs what raind's demo and tests need, idempotently, into a cache
# (${RAIND_CACHE:-$HOME/.cache/raind}):
#   bin/containerd, bin/ctr, bin/containerd-shim-runc-v2   built from the Go module proxy
#   rootfs/busybox                                         a busybox rootfs from Debian's busybox-static
#   busybox.tar                                            an OCI image of that rootfs for `ctr images import`
#   pause.tar                                              the CRI pod sandbox image (hack/pause)
#   bin/nerdctl                                            nerdctl, built from its module source
#   cni/bin/                                               the CNI plugins nerdctl and CRI use
#   bin/crictl, bin/critest                                cri-tools, built from the Go module proxy
# Prints the cache directory on stdout; progress goes to stderr. Safe to run
# concurrently: a lock serialises runs, and every artefact is built aside
# and renamed into place, so a reader never sees half of one.
set -euo pipefail

CACHE=${RAIND_CACHE:-$HOME/.cache/raind}
HERE=$(cd "$(dirname "$0")" && pwd)
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
BIN=$CACHE/bin
ROOTFS=$CACHE/rootfs/busybox
IMAGE=$CACHE/busybox.tar
IMAGE_REF=docker.io/library/busybox:raind
# Bump when the rootfs or image recipe below changes, so caches rebuild.
RECIPE=3

# Debian packages the tests need, as "command-or-path:package". Add a line
# to install another one.
APT_NEEDS=(
  "gcc:gcc"             # the shim is built with cgo
  "musl-gcc:musl-tools" # and linked statically against musl (see Makefile)
  "pkg-config:pkg-config"                 # finds libseccomp for cgo
  "/usr/include/seccomp.h:libseccomp-dev" # runtime/seccomp: libseccomp's header and static library
  "/usr/include/stdio.h:libc6-dev"        # gcc -static of the integration tests' seccomp probe
  "/bin/busybox:busybox-static"
  "flock:util-linux"
  "sha256sum:coreutils"
  "iptables:iptables"   # the bridge and portmap CNI plugins program it
  "ip:iproute2"
  "/usr/bin/tini-static:tini" # nerdctl run --init
  "protoc:protobuf-compiler" # go generate ./service/taskv3 (hack/gen-taskv3.sh)
  "/usr/include/google/protobuf/any.proto:libprotobuf-dev" # its well-known .proto files
  "dbus-daemon:dbus-daemon" # runtime/cgroups: a private bus for the fake systemd the systemd driver is tested against
)

log() { echo "install-deps: $*" >&2; }

mkdir -p "$BIN" "$CACHE/rootfs"

install_apt() {
  local missing=() need what pkg
  for need in "${APT_NEEDS[@]}"; do
    what=${need%%:*} pkg=${need#*:}
    # A path is a file the package installs (a header is not executable).
    if [[ $what == /* ]]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null && continue; fi
    missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages ${missing[*]}; run as root or install them"
    return 1
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >&2
}

install_containerd() {
  if [ -x "$BIN/containerd" ] && [ -x "$BIN/ctr" ] && [ -x "$BIN/containerd-shim-runc-v2" ] &&
     "$BIN/containerd" --version 2>/dev/null | grep -q " ${CONTAINERD_VERSION#v}\b"; then
    return 0
  fi
  log "building containerd $CONTAINERD_VERSION into $BIN (a few minutes the first time)"
  local tmp
  tmp=$(mktemp -d)
  # Outside the repo, so its go.mod does not steer the build.
  (cd "$tmp" && GOBIN=$BIN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install -tags "no_btrfs no_devmapper no_zfs" \
    "github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" >&2)
  rm -rf "$tmp"
}

rootfs_stamp() { echo "recipe=$RECIPE busybox=$(sha256sum /bin/busybox | cut -d' ' -f1)"; }

build_rootfs() {
  local stamp
  stamp=$(rootfs_stamp)
  if [ -x "$ROOTFS/bin/sh" ] && [ "$(cat "$CACHE/rootfs/busybox.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  log "building busybox rootfs in $ROOTFS"
  local new=$ROOTFS.new app dir
  rm -rf "$new" "$ROOTFS.old"
  mkdir -p "$new"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home/app,var/tmp,run}
  chmod 1777 "$new/tmp" "$new/var/tmp"
  chmod 0700 "$new/root"
  install -m 0755 /bin/busybox "$new/bin/busybox"
  # Every applet in /bin, so PATH-less callers find /bin/true and /bin/sh;
  # and also where busybox itself would install it (sbin, usr/bin), so
  # scripts with #!/usr/bin/env work.
  while read -r app; do
    [ -n "$app" ] || continue
    [ "$(basename "$app")" = busybox ] && continue
    ln -sf busybox "$new/bin/$(basename "$app")"
    dir=$(dirname "$app")
    case "$dir" in
      bin | .) ;;
      *) [ -e "$new/$app" ] || ln -s /bin/busybox "$new/$app" ;;
    esac
  done < <(/bin/busybox --list-full)
  cat >"$new/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$new/etc/group" <<'EOF'
root:x:0:
app:x:1000:
nogroup:x:65534:
EOF
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$new/etc/hosts"
  printf 'nameserver 127.0.0.1\n' >"$new/etc/resolv.conf"
  printf 'raind\n' >"$new/etc/hostname"
  chown 1000:1000 "$new/home/app"
  "$new/bin/busybox" true # fails here, not in a container, if the copy is unusable
  # A container of a concurrent test may still have the old tree as its
  # root: move it aside rather than delete it; the next rebuild removes it.
  rm -f "$IMAGE.stamp"
  [ -e "$ROOTFS" ] && mv "$ROOTFS" "$ROOTFS.old"
  mv "$new" "$ROOTFS"
  echo "$stamp" >"$CACHE/rootfs/busybox.stamp"
}

# blob FILE: moves FILE into the layout's blobs and prints "digest size".
blob() {
  local sum size
  sum=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv "$1" "$work/blobs/sha256/$sum"
  echo "$sum $size"
}

# oci_image DIR TAR REF CMD STAMP: an OCI image layout of the tree DIR, one
# layer, named REF, running CMD (a JSON array), as a tar for `ctr images
# import`; rebuilt only when STAMP changes.
oci_image() {
  local dir=$1 out=$2 ref=$3 cmd=$4 stamp=$5
  if [ -s "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  log "building OCI image $out ($ref)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$work/blobs/sha256"
  # Reproducible: fixed order and times, numeric owners (home/app is 1000).
  tar --sort=name --mtime=@0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$dir" -cf "$work/layer" .
  local layer lsize config csize manifest msize
  read -r layer lsize < <(blob "$work/layer")
  cat >"$work/config" <<EOF
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":$cmd,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:$layer"]},"history":[{"created_by":"raind hack/install-deps.sh"}]}
EOF
  read -r config csize < <(blob "$work/config")
  cat >"$work/manifest" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":$csize},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$layer","size":$lsize}]}
EOF
  read -r manifest msize < <(blob "$work/manifest")
  cat >"$work/index.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest","size":$msize,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"$ref","org.opencontainers.image.ref.name":"${ref##*:}"}}]}
EOF
  printf '{"imageLayoutVersion":"1.0.0"}\n' >"$work/oci-layout"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work" -cf "$out.new" oci-layout index.json blobs
  mv "$out.new" "$out"
  echo "$stamp" >"$out.stamp"
}

build_image() {
  oci_image "$ROOTFS" "$IMAGE" "$IMAGE_REF" '["sh"]' "$(rootfs_stamp)"
}

# The pod sandbox image for the CRI tests: hack/pause/pause.c, static, at
# /pause. No registry is reachable, so it is built here.
PAUSE_IMAGE=$CACHE/pause.tar
PAUSE_REF=registry.k8s.io/pause:raind
build_pause() {
  local src=$HERE/pause/pause.c stamp tree
  stamp="pause $(sha256sum "$src" | cut -d' ' -f1)"
  if [ -s "$PAUSE_IMAGE" ] && [ "$(cat "$PAUSE_IMAGE.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  tree=$(mktemp -d)
  "$(command -v musl-gcc || echo gcc)" -static -Os -o "$tree/pause" "$src"
  oci_image "$tree" "$PAUSE_IMAGE" "$PAUSE_REF" '["/pause"]' "$stamp"
  rm -rf "$tree"
}

NERDCTL_VERSION=${NERDCTL_VERSION:-v2.3.1}
CNI_PLUGINS_VERSION=${CNI_PLUGINS_VERSION:-v1.10.0}
CRI_TOOLS_VERSION=${CRI_TOOLS_VERSION:-v1.37.0}

# nerdctl: `go install …@v2.3.1` fails (its go.mod replaces a tigron module
# by a directory that the module zip leaves out), so build it from a copy
# of the module source: drop the one test helper that reaches tigron and
# give tigron a stub go.mod to satisfy the replace.
install_nerdctl() {
  if [ -x "$BIN/nerdctl" ] && "$BIN/nerdctl" --version 2>/dev/null | grep -q "version ${NERDCTL_VERSION#v}$"; then
    return 0
  fi
  log "building nerdctl $NERDCTL_VERSION into $BIN (two to four minutes the first time)"
  local tmp dir
  tmp=$(mktemp -d)
  dir=$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "github.com/containerd/nerdctl/v2@$NERDCTL_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { log "could not download the nerdctl module"; rm -rf "$tmp"; return 1; }
  cp -r "$dir" "$tmp/src"
  chmod -R u+w "$tmp/src"
  rm -f "$tmp/src/cmd/nerdctl/helpers/testing_linux.go"
  mkdir -p "$tmp/src/mod/tigron"
  printf 'module github.com/containerd/nerdctl/mod/tigron\n\ngo 1.24\n' >"$tmp/src/mod/tigron/go.mod"
  (cd "$tmp/src" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
    -ldflags "-X github.com/containerd/nerdctl/v2/pkg/version.Version=$NERDCTL_VERSION" \
    -o "$BIN/nerdctl.new" ./cmd/nerdctl >&2)
  mv "$BIN/nerdctl.new" "$BIN/nerdctl"
  rm -rf "$tmp"
}

# The CNI plugins, into cni/bin (nerdctl's --cni-path, CRI's bin_dir).
install_cni() {
  local cni=$CACHE/cni/bin stamp=$CACHE/cni/version
  if [ -x "$cni/bridge" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$CNI_PLUGINS_VERSION" ]; then
    return 0
  fi
  log "building CNI plugins $CNI_PLUGINS_VERSION into $cni (a minute or two the first time)"
  mkdir -p "$cni"
  local tmp p pkgs=()
  for p in main/bridge main/loopback main/ptp main/host-device ipam/host-local meta/portmap meta/firewall meta/tuning; do
    pkgs+=("github.com/containernetworking/plugins/plugins/$p@$CNI_PLUGINS_VERSION")
  done
  tmp=$(mktemp -d)
  (cd "$tmp" && GOBIN=$cni CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install "${pkgs[@]}" >&2)
  rm -rf "$tmp"
  echo "$CNI_PLUGINS_VERSION" >"$stamp"
}

# crictl and critest, for the CRI tests and `make critest`.
install_cri_tools() {
  if [ -x "$BIN/crictl" ] && [ -x "$BIN/critest" ] && [ "$(cat "$BIN/.cri-tools" 2>/dev/null)" = "$CRI_TOOLS_VERSION" ]; then
    return 0
  fi
  log "building crictl and critest $CRI_TOOLS_VERSION into $BIN (two or three minutes the first time)"
  local tmp dir
  tmp=$(mktemp -d)
  (cd "$tmp" && GOBIN=$BIN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install \
    "sigs.k8s.io/cri-tools/cmd/crictl@$CRI_TOOLS_VERSION" >&2)
  # critest is a Go test binary (cmd/critest holds only a _test.go file).
  dir=$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  (cd "$dir" && CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" go test -c -o "$BIN/critest" ./cmd/critest >&2)
  rm -rf "$tmp"
  echo "$CRI_TOOLS_VERSION" >"$BIN/.cri-tools"
}

# runc, for `make bench` only (RAIND_WITH_RUNC=1): built from the Go module
# proxy with seccomp, against Debian's libseccomp.
RUNC_VERSION=${RUNC_VERSION:-v1.5.2}
install_runc() {
  if [ -x "$BIN/runc" ] && "$BIN/runc" --version 2>/dev/null | grep -q "^runc version ${RUNC_VERSION#v}$"; then
    return 0
  fi
  log "building runc $RUNC_VERSION into $BIN"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && GOBIN=$BIN CGO_ENABLED=1 GOFLAGS=-buildvcs=false go install -tags seccomp \
    "github.com/opencontainers/runc@$RUNC_VERSION" >&2)
  rm -rf "$tmp"
}

if [ "${RAIND_WITH_RUNC:-}" = 1 ]; then
  APT_NEEDS+=("/usr/include/seccomp.h:libseccomp-dev" "pkg-config:pkg-config")
fi
install_apt
exec 9>"$CACHE/.install-deps.lock"
flock 9
install_containerd
if [ "${RAIND_WITH_RUNC:-}" = 1 ]; then
  install_runc
fi
install_nerdctl
install_cni
install_cri_tools
build_rootfs
build_image
build_pause
echo "$CACHE"
