package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeCgroupfs is a directory laid out like a cgroup2 mount with every
// controller enabled, for the v2 code paths on a v1 host. The kernel
// fills a new cgroup directory with its files; the fake does it up front
// for each of dirs.
func fakeCgroupfs(t *testing.T, dirs ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range append([]string{""}, dirs...) {
		dir := filepath.Join(root, d)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{
			"cgroup.controllers", "cgroup.subtree_control", "cgroup.procs", "cgroup.freeze", "cgroup.type",
			"memory.max", "memory.swap.max", "memory.low", "cpu.max", "cpu.weight", "cpuset.cpus", "cpuset.mems",
			"pids.max", "io.bfq.weight", "io.weight", "io.max",
		} {
			content := ""
			if name == "cgroup.controllers" {
				content = "cpuset cpu io memory hugetlb pids rdma misc"
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestV2Limits(t *testing.T) {
	root := fakeCgroupfs(t, "ns", "ns/ctr")
	mem := int64(64 << 20)
	swap := int64(128 << 20)
	quota := int64(50000)
	period := uint64(100000)
	shares := uint64(1024)
	pids := int64(20)
	weight := uint16(500)
	m, err := newV2(root, "/ns/ctr", &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: &mem, Swap: &swap},
		CPU:     &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares},
		Pids:    &specs.LinuxPids{Limit: &pids},
		BlockIO: &specs.LinuxBlockIO{Weight: &weight},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "ns", "ctr")
	for file, want := range map[string]string{
		"memory.max":      "67108864",
		"memory.swap.max": "67108864", // v2 swap excludes memory: 128M-64M
		"cpu.max":         "50000 100000",
		"cpu.weight":      "100", // 1024 shares, the default, is the default weight
		"pids.max":        "20",
		"io.bfq.weight":   "500",
	} {
		p := filepath.Join(dir, file)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s not written", file)
			continue
		}
		if got := read(t, p); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	// The parent delegates the controllers the limits need.
	if sc := read(t, filepath.Join(root, "cgroup.subtree_control")); !strings.Contains(sc, "memory") || !strings.Contains(sc, "pids") {
		t.Errorf("root subtree_control %q", sc)
	}
	if files := m.ProcsFiles(); len(files) != 1 || files[0] != filepath.Join(dir, "cgroup.procs") {
		t.Errorf("procs files %v", files)
	}
}

func TestV2LoadMissing(t *testing.T) {
	if _, err := loadV2(fakeCgroupfs(t), "/nope"); err == nil {
		t.Fatal("loading a missing cgroup succeeded")
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{"/a/b": "/a/b", "a/b": "/a/b", "/a/../b": "/b"} {
		got, err := cleanPath(in)
		if err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	// A "slice:prefix:name" path never gets here: New and Load give it to
	// the systemd driver (TestSystemdOnThisHost).
	for _, bad := range []string{"", "/", "/.."} {
		if _, err := cleanPath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
