package runtime

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runToExit creates and starts a container of spec, waits for its init to
// exit and destroys it; it returns what the container printed.
func runToExit(t *testing.T, spec *specs.Spec) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	ec := reaper.Default.Subscribe()
	defer reaper.Default.Unsubscribe(ec)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := NewConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Create(ctx, CreateOpts{ID: t.Name(), Config: cfg, Stdio: Stdio{In: null, Out: w, Err: w}, Monitor: reaper.Default, Cgroups: testCgroups()})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy(context.Background())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, _ = out.ReadFrom(r)
	for e := range ec {
		if e.Pid == c.Init().Pid() {
			break
		}
	}
	if err := c.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestSysctlsBeforeReadonlyProcSys: Kubernetes sets net.ipv4 sysctls in
// every pod, and containerd makes /proc/sys read-only; runc writes the
// sysctls first.
func TestSysctlsBeforeReadonlyProcSys(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	startReaper(t)
	spec := testSpec(busybox(t), "sh", "-c",
		"cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range; echo x > /proc/sys/net/ipv4/ip_unprivileged_port_start && echo writable || echo readonly")
	spec.Linux.ReadonlyPaths = []string{"/proc/sys"}
	spec.Linux.MaskedPaths = []string{"/proc/kcore"}
	spec.Linux.Sysctl = map[string]string{
		"net.ipv4.ip_unprivileged_port_start": "0",
		"net.ipv4.ping_group_range":           "0 2147483647",
	}
	out := runToExit(t, spec)
	fields := strings.Fields(out)
	if len(fields) < 4 || fields[0] != "0" || fields[1] != "0" || fields[2] != "2147483647" || fields[len(fields)-1] != "readonly" {
		t.Fatalf("output %q", out)
	}
}
