package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// TestShimInCgroup is containerd's own client test of the same name,
// against raind: the runc options' shim_cgroup, which containerd's client
// sends whatever the runtime, puts the shim into that cgroup.
func TestShimInCgroup(t *testing.T) {
	path := fmt.Sprintf("/raind-shim-test-%d", os.Getpid())
	var made []string
	for _, h := range []string{"memory", "pids", "cpu", "cpuset", "blkio", "devices", "freezer", "systemd"} {
		d := filepath.Join("/sys/fs/cgroup", h, path)
		if _, err := os.Stat(filepath.Dir(d)); err != nil {
			continue
		}
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		made = append(made, d)
		if h == "cpuset" {
			// A new cpuset has no CPUs or memory nodes until given some.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(filepath.Dir(d), f))
				if err == nil {
					err = os.WriteFile(filepath.Join(d, f), v, 0)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// The shim leaves with its last container, shortly after the delete.
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for _, d := range made {
			for os.Remove(d) != nil && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
		}
	})
	startTask(t, testCtx(t, time.Minute), newID("shimcg"), &runcoptions.Options{ShimCgroup: path}, oci.WithProcessArgs("sleep", "1000"))
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", path, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	procs := strings.Fields(string(b))
	if len(procs) != 1 {
		t.Fatalf("processes in %s: %v, want the shim alone", path, procs)
	}
	cmdline, _ := os.ReadFile("/proc/" + procs[0] + "/cmdline")
	if !strings.Contains(string(cmdline), shimName) {
		t.Fatalf("process %s in the shim cgroup is %q, not the shim", procs[0], cmdline)
	}
}

// startTask creates a busybox container with spec options opts (the
// process's args among them) and the runtime options containerd's client
// sends (nil for none), and starts its task; both are removed when the
// test ends.
func startTask(t *testing.T, ctx context.Context, id string, runtimeOpts any, opts ...oci.SpecOpts) containerd.Task {
	t.Helper()
	c := newClient(t)
	ctr, err := c.NewContainer(ctx, id, containerd.WithNewSpec(append([]oci.SpecOpts{oci.WithRootFSPath(busyboxRootfs(t))}, opts...)...),
		containerd.WithRuntime(runtimeName, runtimeOpts))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctr.Delete(context.WithoutCancel(ctx)) })
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill) })
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return task
}

// newShim is the shim that started since before (from shimPids).
func newShim(t *testing.T, before []int) int {
	t.Helper()
	for _, p := range shimPids(t) {
		if !containsInt(before, p) {
			return p
		}
	}
	t.Fatal("no new shim")
	return 0
}
