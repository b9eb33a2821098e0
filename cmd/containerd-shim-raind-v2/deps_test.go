package main

import (
	"os/exec"
	"strings"
	"testing"
)

// heavy are packages the shim must not link: each one costs every shim
// process start-up time and resident memory (see BENCHMARKS.md), and none
// does a job the shim needs.
var heavy = []string{
	"google.golang.org/grpc",
	"go.opentelemetry.io/",
	"github.com/containerd/ttrpc",
	"github.com/containerd/plugin",
	"github.com/containerd/containerd/v2/pkg/shim",
	"github.com/containerd/typeurl",
	"github.com/containerd/containerd/api/",
	"github.com/containerd/containerd/v2/core/",
	"github.com/containerd/cgroups",
	"github.com/cilium/ebpf",
	"github.com/godbus/dbus",
	"google.golang.org/protobuf/proto",
	"google.golang.org/protobuf/reflect",
	"google.golang.org/protobuf/internal/impl",
}

// TestNoHeavyDependencies keeps the binary lean: it fails when a change
// pulls one of the heavy packages back in.
func TestNoHeavyDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, h := range heavy {
			if strings.HasPrefix(dep, h) {
				t.Errorf("the shim links %s", dep)
			}
		}
	}
}
