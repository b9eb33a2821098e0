package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeV2 builds a cgroupfs look-alike: the root offers controllers, and the
// given cgroup directories exist with the control files the code may write.
// Files left out model a kernel without that feature.
func fakeV2(t *testing.T, controllers string, dirs ...string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"cgroup.procs": "", "cgroup.subtree_control": "", "cgroup.controllers": controllers,
		"cgroup.freeze": "0", "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.type": "domain",
		"memory.max": "max", "memory.swap.max": "max", "memory.low": "0", "memory.current": "4096",
		"cpu.max": "max 100000", "cpu.weight": "100", "cpu.max.burst": "0", "cpu.idle": "0",
		"cpuset.cpus": "", "cpuset.mems": "", "pids.max": "max", "io.max": "", "io.weight": "default 100",
		"hugetlb.2MB.max": "max", "rdma.max": "",
	}
	for _, d := range append([]string{""}, dirs...) {
		dir := filepath.Join(root, d)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func readFake(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ptr[T any](v T) *T { return &v }

func TestV2FakeNewWritesLimits(t *testing.T) {
	root := fakeV2(t, "cpu cpuset memory pids io hugetlb", "default", "default/c1")
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(96 << 20)), Reservation: ptr(int64(32 << 20))},
		CPU:    &specs.LinuxCPU{Shares: ptr(uint64(1024)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Cpus: "0", Mems: "0"},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(20))},
		BlockIO: &specs.LinuxBlockIO{
			Weight:                ptr(uint16(500)),
			ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1048576}},
		},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
	}
	m, err := newV2(root, "/default/c1", res)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "default/c1")
	for file, want := range map[string]string{
		"memory.max":      "67108864",
		"memory.swap.max": "33554432",
		"memory.low":      "33554432",
		"cpu.max":         "50000 100000",
		"cpu.weight":      "100", // the v1 default maps to the v2 default
		"cpuset.cpus":     "0",
		"cpuset.mems":     "0",
		"pids.max":        "20",
		"io.weight":       "4950", // 1 + (500-10)*9999/990
		"io.max":          "8:0 rbps=1048576",
		"hugetlb.2MB.max": "4194304",
	} {
		if got := readFake(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	for _, d := range []string{root, filepath.Join(root, "default")} {
		if got, want := readFake(t, filepath.Join(d, "cgroup.subtree_control")), "+cpu +cpuset +hugetlb +io +memory +pids"; got != want {
			t.Errorf("%s/cgroup.subtree_control = %q, want %q", d, got, want)
		}
	}
	if got := m.ProcsFiles(); !slices.Equal(got, []string{filepath.Join(dir, "cgroup.procs")}) {
		t.Errorf("ProcsFiles = %v", got)
	}
	if m.Path() != "/default/c1" {
		t.Errorf("Path = %q", m.Path())
	}
}

func TestV2FakeUpdate(t *testing.T) {
	root := fakeV2(t, "cpu memory pids", "c1")
	m, err := newV2(root, "/c1", &specs.LinuxResources{
		CPU: &specs.LinuxCPU{Quota: ptr(int64(50000)), Period: ptr(uint64(100000))},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "c1")
	// Only the period changes: the quota must survive.
	if err := m.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptr(uint64(200000))}}); err != nil {
		t.Fatal(err)
	}
	if got := readFake(t, filepath.Join(dir, "cpu.max")); got != "50000 200000" {
		t.Errorf("cpu.max = %q", got)
	}
	// Negative values lift limits.
	if err := m.Update(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(-1)), Swap: ptr(int64(-1))},
		CPU:    &specs.LinuxCPU{Quota: ptr(int64(-1))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(-1))},
	}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"memory.max": "max", "memory.swap.max": "max", "cpu.max": "max 200000", "pids.max": "max"} {
		if got := readFake(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	// checkBeforeUpdate: memory.current is 4096 in the fake.
	err = m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(1024)), CheckBeforeUpdate: ptr(true)}})
	if !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("limit below usage: err = %v, want ErrFailedPrecondition", err)
	}
	if got := readFake(t, filepath.Join(dir, "memory.max")); got != "max" {
		t.Errorf("refused update still wrote memory.max = %q", got)
	}
	// The unified map is written verbatim and last.
	if err := m.Update(&specs.LinuxResources{
		Pids:    &specs.LinuxPids{Limit: ptr(int64(5))},
		Unified: map[string]string{"pids.max": "7"},
	}); err != nil {
		t.Fatal(err)
	}
	if got := readFake(t, filepath.Join(dir, "pids.max")); got != "7" {
		t.Errorf("pids.max = %q, want unified override 7", got)
	}
}

func TestV2FakeRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		controllers string
		res         *specs.LinuxResources
		kind        error
	}{
		"controller missing":  {"cpu", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(3))}}, errdefs.ErrNotImplemented},
		"swappiness":          {"memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: ptr(uint64(10))}}, errdefs.ErrNotImplemented},
		"realtime":            {"cpu", &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr(int64(10))}}, errdefs.ErrNotImplemented},
		"net_cls":             {"", &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr(uint32(1))}}, errdefs.ErrNotImplemented},
		"leaf weight":         {"io", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: ptr(uint16(100))}}, errdefs.ErrNotImplemented},
		"swap without limit":  {"memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: ptr(int64(100))}}, errdefs.ErrInvalidArgument},
		"swap below limit":    {"memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(200)), Swap: ptr(int64(100))}}, errdefs.ErrInvalidArgument},
		"unified path escape": {"", &specs.LinuxResources{Unified: map[string]string{"../x.y": "1"}}, errdefs.ErrInvalidArgument},
	} {
		t.Run(name, func(t *testing.T) {
			root := fakeV2(t, tc.controllers, "a")
			_, err := newV2(root, "/a/b", tc.res)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			// A refused creation leaves nothing behind.
			if _, err := os.Stat(filepath.Join(root, "a/b")); !os.IsNotExist(err) {
				t.Errorf("refused creation left %s/a/b behind: %v", root, err)
			}
			if _, err := os.Stat(filepath.Join(root, "a")); err != nil {
				t.Errorf("refused creation removed the existing parent: %v", err)
			}
		})
	}
}

func TestV2FakeFreezeLoadDelete(t *testing.T) {
	root := fakeV2(t, "", "c1")
	dir := filepath.Join(root, "c1")
	if _, err := loadV2(root, "/missing"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Load missing: %v, want ErrNotFound", err)
	}
	m, err := loadV2(root, "/c1")
	if err != nil {
		t.Fatal(err)
	}
	// The fake kernel has already "frozen" it; Freeze must request it
	// and see the state reached.
	if err := os.WriteFile(filepath.Join(dir, "cgroup.events"), []byte("populated 1\nfrozen 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := readFake(t, filepath.Join(dir, "cgroup.freeze")); got != "1" {
		t.Errorf("cgroup.freeze = %q after Freeze", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.events"), []byte("populated 1\nfrozen 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if got := readFake(t, filepath.Join(dir, "cgroup.freeze")); got != "0" {
		t.Errorf("cgroup.freeze = %q after Thaw", got)
	}

	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("12345\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pids, err := m.Pids(); err != nil || !slices.Equal(pids, []int{12345}) {
		t.Errorf("Pids = %v, %v", pids, err)
	}
	if err := m.Delete(); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("Delete with processes: %v, want ErrFailedPrecondition", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cgroup dir still there: %v", err)
	}
	if err := m.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

func TestSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{2: 1, 1024: 100, 262144: 10000, 1 << 30: 10000} {
		if got := sharesToWeight(shares); got != want {
			t.Errorf("sharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
}

// TestV2FakeStats reads the library's metrics from the control files.
func TestV2FakeStats(t *testing.T) {
	root := fakeV2(t, "memory pids", "c1")
	dir := filepath.Join(root, "c1")
	for name, content := range map[string]string{
		"pids.current": "3", "pids.max": "20",
		"memory.current": "8192", "memory.max": "67108864", "memory.stat": "anon 4096\nfile 4096\n",
		"memory.events": "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
		"cpu.stat":      "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := loadV2(root, "/c1")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	st, ok := msg.(*stats.Metrics)
	if !ok {
		t.Fatalf("Stats gave %T, want *cgroup2/stats.Metrics", msg)
	}
	if st.Pids.Current != 3 || st.Pids.Limit != 20 {
		t.Errorf("pids %v", st.Pids)
	}
	if st.Memory.Usage != 8192 || st.Memory.UsageLimit != 64<<20 || st.Memory.Anon != 4096 {
		t.Errorf("memory %v", st.Memory)
	}
	if st.MemoryEvents.OomKill != 1 || st.CPU.UsageUsec != 1500 {
		t.Errorf("events %v, cpu %v", st.MemoryEvents, st.CPU)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stats(); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Stats of a removed cgroup: %v, want ErrNotFound", err)
	}
}

// TestV2FakeStatsWithoutPids: without the pids controller there is no
// pids.current, which the library reads as 0 processes; Stats counts the
// tasks in cgroup.threads of the cgroup and its descendants instead.
func TestV2FakeStatsWithoutPids(t *testing.T) {
	root := fakeV2(t, "", "c1", "c1/sub")
	for dir, tids := range map[string]string{"c1": "10\n11\n", "c1/sub": "12\n"} {
		if err := os.WriteFile(filepath.Join(root, dir, "cgroup.threads"), []byte(tids), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := loadV2(root, "/c1")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st := msg.(*stats.Metrics); st.Pids == nil || st.Pids.Current != 3 {
		t.Errorf("pids %v without pids.current, want the 3 threads", st.Pids)
	}
	// With pids.current, the kernel's count stands.
	if err := os.WriteFile(filepath.Join(root, "c1", "pids.current"), []byte("7"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err = m.Stats(); err != nil {
		t.Fatal(err)
	}
	if st := msg.(*stats.Metrics); st.Pids.Current != 7 {
		t.Errorf("pids %v, want pids.current's 7", st.Pids)
	}
}
