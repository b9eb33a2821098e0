package main

import (
	"os/exec"
	"strings"
	"testing"
)

// unneeded are packages the shim must not link: none does a job the shim
// needs, and each costs every shim process start-up time and resident
// memory (see BENCHMARKS.md). A name ending in / stands for every package
// under it.
var unneeded = []struct{ pkg, why string }{
	// Exactly the package, and its transport: grpc/codes and grpc/status
	// are how ttrpc carries an error's kind.
	{"google.golang.org/grpc", "grpc: the shim speaks ttrpc"},
	{"google.golang.org/grpc/internal/transport", "grpc's transport"},
	{"go.opentelemetry.io/", "otel"},
	{"github.com/containerd/plugin", "containerd's plugin registry"},
	{"github.com/containerd/plugin/", "containerd's plugin registry"},
	{"github.com/containerd/containerd/v2/pkg/shim", "containerd's shim library (grpc, otel, plugins)"},
	{"github.com/containerd/containerd/v2/pkg/shim/", "containerd's shim library"},
	// Links grpc, and registers the protobuf names of service/taskv3:
	// a binary with both panics at init.
	{"github.com/containerd/containerd/api/runtime/task/v3", "containerd's task API package"},
}

// needed are packages the shim must link: the design's protocol,
// messages and cgroup manager.
var needed = []string{
	"github.com/containerd/ttrpc",
	"github.com/raind/raind/service/taskv3",
	"github.com/containerd/cgroups/v3/cgroup1",
	"github.com/containerd/cgroups/v3/cgroup2",
}

// TestDependencies keeps the shim's dependencies what the design says:
// ttrpc, containerd's generated messages and cgroups/v3, without grpc and
// the rest of containerd's shim machinery.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string]bool{}
	for _, dep := range strings.Fields(string(out)) {
		deps[dep] = true
	}
	for _, u := range unneeded {
		for dep := range deps {
			if dep == u.pkg || (strings.HasSuffix(u.pkg, "/") && strings.HasPrefix(dep, u.pkg)) {
				t.Errorf("the shim links %s (%s)", dep, u.why)
			}
		}
	}
	for _, n := range needed {
		if !deps[n] {
			t.Errorf("the shim does not link %s", n)
		}
	}
}
