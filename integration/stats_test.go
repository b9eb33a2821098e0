package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestStatsAndUpdate: Stats answers in cgroups/v3's v1 Metrics type, as the
// runc shim does (containerd, CRI and nerdctl decode it by type URL), with
// the container's own figures; Update changes a live container's limits,
// and a limit the kernel refuses fails and leaves the old one.
func TestStatsAndUpdate(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		t.Skip("no cgroup v1 memory controller: the v2 path is tested on the fake cgroupfs")
	}
	ctx, ctr, task := runningContainer(t)
	m, err := task.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	metrics, ok := data.(*v1.Metrics)
	if !ok {
		t.Fatalf("metrics are a %T", data)
	}
	if metrics.Memory == nil || metrics.Memory.Usage.Usage == 0 || metrics.Pids == nil || metrics.Pids.Current == 0 {
		t.Fatalf("metrics without the container's memory or pids: %+v", metrics)
	}

	spec, err := ctr.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	limitFile := filepath.Join("/sys/fs/cgroup/memory", spec.Linux.CgroupsPath, "memory.limit_in_bytes")
	limit := int64(64 << 20)
	if err := task.Update(ctx, containerd.WithResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}})); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(limitFile)
	if err != nil || strings.TrimSpace(string(b)) != strconv.FormatInt(limit, 10) {
		t.Fatalf("memory limit after Update: %q %v", b, err)
	}
	// Below what the container uses: the kernel refuses (EBUSY, it cannot
	// reclaim that much), the error says so and the old limit stays.
	tiny := int64(4096)
	err = task.Update(ctx, containerd.WithResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &tiny}}))
	b, _ = os.ReadFile(limitFile)
	switch {
	case err == nil:
		t.Logf("the kernel took a 4 KiB limit (now %s)", strings.TrimSpace(string(b)))
	case strings.TrimSpace(string(b)) != strconv.FormatInt(limit, 10):
		t.Errorf("limit after a refused update: %q (update error %v)", b, err)
	case !strings.Contains(err.Error(), "memory"):
		t.Errorf("refusal does not say what: %v", err)
	}
}
