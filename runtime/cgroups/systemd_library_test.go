package cgroups

import (
	"os"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"
)

// TestLibrarySystemdIgnoresSlice shows why the driver does not use the
// library's cgroup2.NewSystemd, against the fake systemd: it always starts
// the scope in system.slice (PropSlice(defaultSlice)), whatever slice it is
// given, while its Manager points at the given slice's directory, so a
// Kubernetes pod's container would land outside its pod; and it never
// asks for Delegate (its canDelegate is never set on v2). Its cgroup1
// counterpart starts no scope of the container's at all, only a test
// unit with an invalid job mode, and knows no PIDs. Report upstream.
func TestLibrarySystemdIgnoresSlice(t *testing.T) {
	addr := privateBus(t)
	sd := startFakeSystemd(t, addr)
	// The library dials the system bus, found through the environment.
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)
	if _, err := cgroup2.NewSystemd("kubepods.slice", "cri-containerd-abc.scope", os.Getpid(), &cgroup2.Resources{}); err != nil {
		t.Fatal(err)
	}
	calls := sd.take()
	if len(calls) != 1 || calls[0].method != "StartTransientUnit" {
		t.Fatalf("calls %v", methods(calls))
	}
	p := calls[0].props
	if p["Slice"] != "system.slice" {
		t.Errorf("the library now puts the scope in %v: use cgroup2.NewSystemd instead of starting the unit here", p["Slice"])
	}
	if _, ok := p["Delegate"]; ok {
		t.Errorf("the library now delegates the scope")
	}
	// The driver's own puts it where the path says.
	u, _ := parseSystemdPath("kubepods.slice:cri-containerd:abc")
	if got := propMap(t, unitProperties(u, true, 1, nil)); got["Slice"] != "kubepods.slice" || got["Delegate"] != true {
		t.Errorf("driver properties %v", got)
	}
}
