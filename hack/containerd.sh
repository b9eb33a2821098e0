#!/usr/bin/env bash
# A private containerd for raind: its own root, state, sockets, shim socket
# directory and log under one directory, never the host's /run/containerd
# or its daemon. containerd finds containerd-shim-raind-v2 through PATH, so
# the repo's bin/ comes first on it.
#
#   hack/containerd.sh start     start it; prints the socket path once containerd answers
#   hack/containerd.sh env       print shell exports for ctr: eval "$(hack/containerd.sh env)"
#   hack/containerd.sh stop      delete what is left of its tasks and containers, stop it
#                                (by the recorded pid: TERM, then KILL), unmount what is left
#   hack/containerd.sh destroy   stop, then remove the directory
#   hack/containerd.sh config    only write config.toml into the directory; prints its path
#
# RAIND_CRI_REGISTRY=HOST:PORT sends CRI's image pulls from registry.k8s.io,
# k8s.gcr.io, gcr.io and docker.io to a plain-HTTP registry there instead
# (hack/critest.sh serves its test images so), and nowhere else.
#
# The directory is $RAIND_CTRD_DIR. Unset, `start` makes /tmp/raind-ctrd.XXXXXX
# and remembers it in $RAIND_CACHE/containerd.dir for the other commands.
# Needs no tty and no stdin.
set -euo pipefail
set +m # without job control, `setsid` execs in place and $! is containerd itself

CACHE=${RAIND_CACHE:-$HOME/.cache/raind}
REPO=$(cd "$(dirname "$0")/.." && pwd)
CONTAINERD=$CACHE/bin/containerd
CTR=$CACHE/bin/ctr
POINTER=$CACHE/containerd.dir
# containerd refuses a shim socket_dir longer than this (Linux).
MAX_SOCKET_DIR=42

die() { echo "containerd.sh: $*" >&2; exit 1; }

resolve_dir() {
  if [ -n "${RAIND_CTRD_DIR:-}" ]; then
    DIR=$RAIND_CTRD_DIR
  elif [ "${1:-}" = create ]; then
    mkdir -p "$CACHE"
    DIR=$(mktemp -d /tmp/raind-ctrd.XXXXXX)
    echo "$DIR" >"$POINTER"
  elif [ -s "$POINTER" ]; then
    DIR=$(cat "$POINTER")
  else
    die "no RAIND_CTRD_DIR and no containerd started by this script"
  fi
  DIR=$(realpath -m "$DIR")
  SOCK=$DIR/containerd.sock
  PIDFILE=$DIR/containerd.pid
}

write_config() {
  mkdir -p "$DIR/root" "$DIR/state"
  # Searchable by others, as /run/containerd and /var/lib/containerd are
  # on a real host: a user-namespaced container's root must pass through
  # to its rootfs and bind sources.
  chmod 0711 "$DIR"
  local shim_sockets="# socket path too long for socket_dir: shims use /run/containerd/s"
  if [ $((${#DIR} + 2)) -le $MAX_SOCKET_DIR ]; then
    # Shim sockets of this daemon only: nothing shared with a host
    # containerd's /run/containerd/s.
    shim_sockets="socket_dir = \"$DIR/s\""
  fi
  cat >"$DIR/config.toml.new" <<EOF
# Written by hack/containerd.sh for a private raind test containerd.
version = 3
root = "$DIR/root"
state = "$DIR/state"
# Plugins that cannot work on a test machine go here. None so far: CRI
# loads (it only warns that there is no CNI config) and its stream server
# binds a random loopback port.
disabled_plugins = []

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[debug]
  address = "$DIR/debug.sock"
  level = "${RAIND_CTRD_LOG_LEVEL:-info}"

[plugins."io.containerd.shim.v1.manager"]
  $shim_sockets

# A sandboxed test machine may lack CAP_SYS_RESOURCE, and CRI gives pod
# sandboxes an oom_score_adj of -998: clamp it to containerd's own.
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.raind]
  runtime_type = "io.containerd.raind.v2"

[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = ["$CACHE/cni/bin"]
  conf_dir = "$DIR/cni/net.d"

# The pod sandbox image hack/install-deps.sh builds (no registry here).
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "registry.k8s.io/pause:raind"

EOF
  write_registry_hosts
  mkdir -p "$DIR/cni/net.d"
  # CRI's pod network: a bridge of its own on this host, pods in a
  # network namespace each. RAIND_CRI_BRIDGE and RAIND_CRI_SUBNET let two
  # private containerds on one host keep apart.
  cat >"$DIR/cni/net.d/10-raind.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "raind-cri",
  "plugins": [
    {"type": "bridge", "bridge": "${RAIND_CRI_BRIDGE:-raindcri0}", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "${RAIND_CRI_SUBNET:-10.77.0.0/24}"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "$DIR/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  mv "$DIR/config.toml.new" "$DIR/config.toml"
}

# write_registry_hosts: with RAIND_CRI_REGISTRY, a hosts.toml per public
# registry whose only host is that local one (server too, so that a
# missing image fails there instead of trying the internet).
write_registry_hosts() {
  rm -rf "$DIR/certs.d"
  [ -n "${RAIND_CRI_REGISTRY:-}" ] || return 0
  local host
  for host in registry.k8s.io k8s.gcr.io gcr.io docker.io; do
    mkdir -p "$DIR/certs.d/$host"
    cat >"$DIR/certs.d/$host/hosts.toml" <<EOF
server = "http://$RAIND_CRI_REGISTRY"

[host."http://$RAIND_CRI_REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
  done
  cat >>"$DIR/config.toml.new" <<EOF
# RAIND_CRI_REGISTRY: pulls go to the local registry in certs.d/*/hosts.toml.
[plugins."io.containerd.cri.v1.images".registry]
  config_path = "$DIR/certs.d"

EOF
}

# ours PID: true if PID is a containerd running with this directory's config,
# so a stale pid file never makes us signal someone else's process.
ours() {
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"--config $DIR/config.toml"* ]]
}

running_pid() {
  [ -s "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  ours "$pid" && echo "$pid"
}

ready() { "$CTR" --address "$SOCK" version >/dev/null 2>&1; }

start() {
  resolve_dir create
  [ -x "$CONTAINERD" ] || die "$CONTAINERD missing: run hack/install-deps.sh"
  [ -x "$REPO/bin/containerd-shim-raind-v2" ] ||
    echo "containerd.sh: warning: $REPO/bin/containerd-shim-raind-v2 not built (make build)" >&2
  local pid
  if pid=$(running_pid); then
    ready && { echo "$SOCK"; return 0; }
    die "containerd $pid is running for $DIR but does not answer"
  fi
  write_config
  PATH="$REPO/bin:$CACHE/bin:$PATH" setsid "$CONTAINERD" --config "$DIR/config.toml" \
    </dev/null >>"$DIR/containerd.log" 2>&1 &
  pid=$!
  echo "$pid" >"$PIDFILE"
  for _ in $(seq 1 400); do
    if ready; then
      echo "$SOCK"
      return 0
    fi
    ours "$pid" || break
    sleep 0.05
  done
  echo "containerd.sh: containerd did not come up; log $DIR/containerd.log:" >&2
  tail -n 30 "$DIR/containerd.log" >&2
  stop
  return 1
}

# cleanup_tasks deletes, through containerd, every task and container left
# in any namespace, so their shims exit and their mounts go.
cleanup_tasks() {
  ready || return 0
  local ctr=("$CTR" --address "$SOCK") ns id
  for ns in $("${ctr[@]}" namespaces list -q 2>/dev/null); do
    for id in $("${ctr[@]}" -n "$ns" tasks list -q 2>/dev/null); do
      echo "containerd.sh: removing leftover task $ns/$id" >&2
      timeout 20 "${ctr[@]}" -n "$ns" tasks delete -f "$id" >/dev/null 2>&1 || true
    done
    for id in $("${ctr[@]}" -n "$ns" containers list -q 2>/dev/null); do
      timeout 20 "${ctr[@]}" -n "$ns" containers delete "$id" >/dev/null 2>&1 || true
    done
  done
}

# stray_shims lists shims still serving this daemon's socket.
stray_shims() {
  local p cmdline
  for p in /proc/[0-9]*; do
    cmdline=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    [[ $cmdline == *containerd-shim-* ]] || continue
    [[ "$cmdline " == *"-address $SOCK "* ]] && echo "${p#/proc/}"
  done
  return 0
}

unmount_under() {
  local m
  # Deepest first; mountinfo escapes spaces and the like as octal.
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v d="$DIR/" '{ p = $5; gsub(/\\040/, " ", p); if (index(p, d) == 1) print p }' /proc/self/mountinfo | sort -r)
}

stop() {
  resolve_dir
  local pid
  if pid=$(running_pid); then
    cleanup_tasks
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
      ours "$pid" || break
      sleep 0.05
    done
    if ours "$pid"; then
      echo "containerd.sh: containerd $pid ignored SIGTERM; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PIDFILE"
  for pid in $(stray_shims); do
    echo "containerd.sh: killing stray shim $pid of $SOCK" >&2
    kill -KILL "$pid" 2>/dev/null || true
  done
  unmount_under
}

destroy() {
  stop
  [ -f "$DIR/config.toml" ] || die "$DIR does not look like ours; not removing it"
  rm -rf "$DIR"
  [ "$(cat "$POINTER" 2>/dev/null)" = "$DIR" ] && rm -f "$POINTER"
  return 0
}

env_exports() {
  resolve_dir
  printf 'export RAIND_CTRD_DIR=%q\n' "$DIR"
  printf 'export CONTAINERD_ADDRESS=%q\n' "$SOCK"
  printf 'export CONTAINERD_NAMESPACE=%q\n' "${CONTAINERD_NAMESPACE:-raind}"
  printf 'export PATH=%q\n' "$CACHE/bin:$PATH"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  destroy) destroy ;;
  env) env_exports ;;
  config)
    resolve_dir
    write_config
    echo "$DIR/config.toml"
    ;;
  *) echo "usage: $0 start|stop|destroy|env|config" >&2; exit 2 ;;
esac
