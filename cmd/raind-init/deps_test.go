package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestInitStaysSmall: the init runs at every container and exec start, and
// every package it links runs its initialisers there. The shim's
// protocol, messages and cgroup library have no business in it.
func TestInitStaysSmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/containerd/ttrpc", "github.com/containerd/cgroups/", "google.golang.org/protobuf/",
			"google.golang.org/grpc", "github.com/containerd/containerd/", "github.com/cilium/ebpf",
			"github.com/godbus/", "github.com/raind/raind/service", "github.com/raind/raind/runtime/cgroups",
		} {
			if dep == strings.TrimSuffix(banned, "/") || (strings.HasSuffix(banned, "/") && strings.HasPrefix(dep, banned)) {
				t.Errorf("raind-init links %s", dep)
			}
		}
	}
}
