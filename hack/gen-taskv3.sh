#!/usr/bin/env bash
# Generates service/taskv3 from containerd's own runtime/task/v3/shim.proto,
# read from the containerd/containerd/api module that go.mod names (in the
# module cache), with protoc (Debian protobuf-compiler; the well-known
# types from libprotobuf-dev) and the protoc-gen-go and protoc-gen-go-ttrpc
# that go.mod pins as tools.
#
# Only the protobuf messages and the ttrpc service are generated: the
# published api/runtime/task/v3 package also holds the grpc service, and
# importing it links all of grpc into the shim. The dependencies of
# shim.proto map to containerd's published packages, which are grpc-free.
# The ttrpc names carry the TTRPC prefix, as in containerd's package.
#
#   hack/gen-taskv3.sh [OUTROOT]   writes OUTROOT/service/taskv3 (default: the repo)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$REPO}")
MODULE=github.com/raind/raind
PKG=$MODULE/service/taskv3
# Where google/protobuf/*.proto are (libprotobuf-dev).
WKT=${PROTOC_WKT_INCLUDE:-/usr/include}

cd "$REPO"
command -v protoc >/dev/null || { echo "gen-taskv3: protoc not found (apt-get install protobuf-compiler libprotobuf-dev)" >&2; exit 1; }
[ -f "$WKT/google/protobuf/any.proto" ] || { echo "gen-taskv3: $WKT/google/protobuf/any.proto missing (apt-get install libprotobuf-dev)" >&2; exit 1; }
go mod download github.com/containerd/containerd/api
API=$(go list -m -f '{{.Dir}}' github.com/containerd/containerd/api)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The versions go.mod's tool directives pin.
go build -o "$tmp/" google.golang.org/protobuf/cmd/protoc-gen-go github.com/containerd/ttrpc/cmd/protoc-gen-go-ttrpc

MAP="Mruntime/task/v3/shim.proto=$PKG;taskv3"
MAP+=",Mtypes/mount.proto=github.com/containerd/containerd/api/types"
MAP+=",Mtypes/task/task.proto=github.com/containerd/containerd/api/types/task"
mkdir -p "$OUT"
protoc -I "$API" -I "$WKT" \
  --plugin=protoc-gen-go="$tmp/protoc-gen-go" \
  --plugin=protoc-gen-go-ttrpc="$tmp/protoc-gen-go-ttrpc" \
  --go_out="$OUT" --go_opt="module=$MODULE,$MAP" \
  --go-ttrpc_out="$OUT" --go-ttrpc_opt="module=$MODULE,prefix=TTRPC,$MAP" \
  runtime/task/v3/shim.proto
