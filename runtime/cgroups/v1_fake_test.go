package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const unlimited = "9223372036854771712"

// fakeV1Files are the control files of each fake hierarchy, keyed by its
// directory (named as the library expects it under the root), with their
// contents in a new cgroup.
var fakeV1Files = map[string]map[string]string{
	"cpu": {
		"cpu.shares": "1024", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1", "cpu.cfs_burst_us": "0",
		"cpu.rt_period_us": "1000000", "cpu.rt_runtime_us": "0", "cpu.idle": "0",
	},
	"cpuacct": {},
	"cpuset":  {"cpuset.cpus": "", "cpuset.mems": ""},
	"memory": {
		"memory.limit_in_bytes": unlimited, "memory.soft_limit_in_bytes": unlimited, "memory.memsw.limit_in_bytes": unlimited,
		"memory.kmem.limit_in_bytes": unlimited, "memory.kmem.tcp.limit_in_bytes": unlimited,
		"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n", "memory.swappiness": "60", "memory.use_hierarchy": "1",
		"memory.usage_in_bytes": "4096",
	},
	"devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm"},
	"freezer": {"freezer.state": "THAWED"},
	"blkio": {
		"blkio.weight": "500", "blkio.leaf_weight": "500", "blkio.weight_device": "", "blkio.leaf_weight_device": "",
		"blkio.throttle.read_bps_device": "", "blkio.throttle.read_iops_device": "",
		"blkio.throttle.write_bps_device": "", "blkio.throttle.write_iops_device": "",
	},
	"pids": {"pids.max": "max"},
	// No reservation limit for 1GB pages: it is written only where the
	// kernel has it.
	"hugetlb":  {"hugetlb.2MB.limit_in_bytes": "0", "hugetlb.2MB.rsvd.limit_in_bytes": "0", "hugetlb.1GB.limit_in_bytes": "0"},
	"net_cls":  {"net_cls.classid": "0"},
	"net_prio": {"net_prio.ifpriomap": "lo 0\n"},
	"rdma":     {"rdma.max": ""},
	"systemd":  {},
}

// fakeV1 lays out v1 hierarchies under a temporary directory, each with
// the given cgroup directories and their control files, and returns the
// library's subsystems for them and the root.
func fakeV1(t *testing.T, dirs ...string) ([]cgroup1.Subsystem, string) {
	t.Helper()
	root := t.TempDir()
	for mount, files := range fakeV1Files {
		for _, d := range append([]string{""}, dirs...) {
			dir := filepath.Join(root, mount, d)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			all := map[string]string{"cgroup.procs": ""}
			for name, content := range files {
				all[name] = content
			}
			if mount == "cpuset" && d == "" {
				// Only the root has cpus and mems, as on a host.
				all["cpuset.cpus"], all["cpuset.mems"] = "0-3\n", "0\n"
			}
			for name, content := range all {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	subs := []cgroup1.Subsystem{
		cgroup1.NewNamed(root, "systemd"), cgroup1.NewFreezer(root), cgroup1.NewPids(root),
		cgroup1.NewNetCls(root), cgroup1.NewNetPrio(root), cgroup1.NewCpuset(root), cgroup1.NewCpu(root),
		cgroup1.NewCpuacct(root), cgroup1.NewMemory(root), cgroup1.NewBlkio(root), cgroup1.NewRdma(root),
		cgroup1.NewDevices(root),
	}
	if h, err := cgroup1.NewHugetlb(root); err == nil {
		subs = append(subs, h)
	}
	return subs, root
}

func withoutSubsystem(subs []cgroup1.Subsystem, n cgroup1.Name) []cgroup1.Subsystem {
	return slices.DeleteFunc(slices.Clone(subs), func(s cgroup1.Subsystem) bool { return s.Name() == n })
}

// fullResources sets every field that v1 has a file for.
func fullResources() *specs.LinuxResources {
	return &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"},
			{Allow: true, Type: "b", Major: ptr(int64(8)), Access: "r"},
			{Allow: false, Type: "c", Major: ptr(int64(5)), Minor: ptr(int64(1)), Access: "w"},
			{Allow: true, Type: "c", Major: ptr(int64(-1)), Minor: ptr(int64(-1)), Access: "m"},
		},
		Memory: &specs.LinuxMemory{
			Limit: ptr(int64(64 << 20)), Reservation: ptr(int64(32 << 20)), Swap: ptr(int64(128 << 20)),
			//lint:ignore SA1019 deprecated, but v1 still has the file and must write it
			Kernel:    ptr(int64(16 << 20)),
			KernelTCP: ptr(int64(8 << 20)), Swappiness: ptr(uint64(10)),
			DisableOOMKiller: ptr(true), UseHierarchy: ptr(true),
		},
		CPU: &specs.LinuxCPU{
			Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Burst: ptr(uint64(1000)), Period: ptr(uint64(100000)),
			RealtimeRuntime: ptr(int64(950000)), RealtimePeriod: ptr(uint64(1000000)),
			Cpus: "1", Mems: "0", Idle: ptr(int64(1)),
		},
		Pids: &specs.LinuxPids{Limit: ptr(int64(20))},
		BlockIO: &specs.LinuxBlockIO{
			Weight: ptr(uint16(500)), LeafWeight: ptr(uint16(300)),
			WeightDevice: []specs.LinuxWeightDevice{{
				LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: ptr(uint16(200)), LeafWeight: ptr(uint16(100)),
			}},
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1 << 20}},
			ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 2 << 20}},
			ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 100}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 200}},
		},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}, {Pagesize: "1GB", Limit: 1 << 30}},
		Network: &specs.LinuxNetwork{
			ClassID:    ptr(uint32(0x100001)),
			Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}, {Name: "lo", Priority: 1}},
		},
		Rdma: map[string]specs.LinuxRdma{
			"mlx5_0": {HcaHandles: ptr(uint32(3)), HcaObjects: ptr(uint32(100))},
			"mlx4_0": {HcaHandles: ptr(uint32(1))},
		},
	}
}

func TestV1FakeNewWritesEverything(t *testing.T) {
	// The cgroup's directories exist already, as the kernel would fill
	// them with control files.
	subs, root := fakeV1(t, "a", "a/c1")
	res := fullResources()
	m, err := newV1(subs, "/a/c1", res)
	if err != nil {
		t.Fatal(err)
	}
	// Each file holds the last value written to it: the library's for
	// what it writes right, raind's for the rest.
	for file, want := range map[string]string{
		"pids/a/c1/pids.max":                           "20",
		"net_cls/a/c1/net_cls.classid":                 "1048577",
		"net_prio/a/c1/net_prio.ifpriomap":             "lo 1",
		"cpuset/a/c1/cpuset.cpus":                      "1",
		"cpuset/a/c1/cpuset.mems":                      "0",
		"cpu/a/c1/cpu.rt_period_us":                    "1000000",
		"cpu/a/c1/cpu.rt_runtime_us":                   "950000",
		"cpu/a/c1/cpu.shares":                          "512",
		"cpu/a/c1/cpu.cfs_period_us":                   "100000",
		"cpu/a/c1/cpu.cfs_quota_us":                    "50000",
		"cpu/a/c1/cpu.cfs_burst_us":                    "1000",
		"cpu/a/c1/cpu.idle":                            "1",
		"memory/a/c1/memory.limit_in_bytes":            "67108864",
		"memory/a/c1/memory.memsw.limit_in_bytes":      "134217728",
		"memory/a/c1/memory.soft_limit_in_bytes":       "33554432",
		"memory/a/c1/memory.kmem.limit_in_bytes":       "16777216",
		"memory/a/c1/memory.kmem.tcp.limit_in_bytes":   "8388608",
		"memory/a/c1/memory.oom_control":               "1",
		"memory/a/c1/memory.swappiness":                "10",
		"memory/a/c1/memory.use_hierarchy":             "1",
		"blkio/a/c1/blkio.weight":                      "500",
		"blkio/a/c1/blkio.leaf_weight":                 "300",
		"blkio/a/c1/blkio.weight_device":               "8:0 200",
		"blkio/a/c1/blkio.leaf_weight_device":          "8:0 100",
		"blkio/a/c1/blkio.throttle.read_bps_device":    "8:0 1048576",
		"blkio/a/c1/blkio.throttle.read_iops_device":   "8:16 100",
		"blkio/a/c1/blkio.throttle.write_bps_device":   "8:0 2097152",
		"blkio/a/c1/blkio.throttle.write_iops_device":  "8:16 200",
		"rdma/a/c1/rdma.max":                           "mlx5_0 hca_handle=3 hca_object=100", // the second of two, in order
		"devices/a/c1/devices.deny":                    "c 5:1 w",
		"devices/a/c1/devices.allow":                   "c *:* m",
		"hugetlb/a/c1/hugetlb.2MB.limit_in_bytes":      "4194304",
		"hugetlb/a/c1/hugetlb.2MB.rsvd.limit_in_bytes": "4194304",
		"hugetlb/a/c1/hugetlb.1GB.limit_in_bytes":      "1073741824",
	} {
		if got := readFake(t, filepath.Join(root, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	// The intermediate cpuset cgroup inherited the root's cpus and mems
	// before the container's own were set.
	for file, v := range map[string]string{"a/cpuset.cpus": "0-3", "a/cpuset.mems": "0"} {
		if got := strings.TrimSpace(readFake(t, filepath.Join(root, "cpuset", file))); got != v {
			t.Errorf("cpuset %s = %q, want %q", file, got, v)
		}
	}
	// Nothing above the cgroup is written but for that.
	if got := readFake(t, filepath.Join(root, "memory/a/memory.limit_in_bytes")); got != unlimited {
		t.Errorf("parent memory limit changed to %q", got)
	}

	var procs []string
	for mount := range fakeV1Files {
		procs = append(procs, filepath.Join(root, mount, "a/c1/cgroup.procs"))
	}
	sort.Strings(procs)
	if got := m.ProcsFiles(); !slices.Equal(got, procs) {
		t.Errorf("ProcsFiles = %v, want %v", got, procs)
	}
	if m.Path() != "/a/c1" {
		t.Errorf("Path = %q", m.Path())
	}
}

// TestV1FakeDeviceRulesStartFromDenyAll: the first write resets the
// cgroup's rules, so that an update replaces them; unset types and
// numbers are spelled out for the library.
func TestV1FakeDeviceRulesStartFromDenyAll(t *testing.T) {
	got := libDevices([]specs.LinuxDeviceCgroup{{Allow: true, Access: "r"}, {Allow: true, Type: "c", Major: ptr(int64(1)), Access: "w"}})
	var lines []string
	for _, d := range got {
		lines = append(lines, fmt.Sprintf("%v %s %d:%d %s", d.Allow, d.Type, *d.Major, *d.Minor, d.Access))
	}
	want := []string{"false a -1:-1 rwm", "true a -1:-1 r", "true c 1:-1 w"}
	if !slices.Equal(lines, want) {
		t.Errorf("rules %v, want %v", lines, want)
	}
}

func TestV1FakeCpusetInheritsNearestParent(t *testing.T) {
	subs, root := fakeV1(t, "a")
	cpuset := filepath.Join(root, "cpuset")
	if err := os.WriteFile(filepath.Join(cpuset, "a/cpuset.cpus"), []byte("2-3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cpuset, "a/cpuset.mems"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Two levels the library creates: both inherit.
	if _, err := newV1(subs, "/a/b/c2", &specs.LinuxResources{}); err != nil {
		t.Fatal(err)
	}
	for file, v := range map[string]string{
		"a/cpuset.cpus": "2-3", "a/cpuset.mems": "0", // kept / filled from the root
		"a/b/cpuset.cpus": "2-3", "a/b/cpuset.mems": "0",
		"a/b/c2/cpuset.cpus": "2-3", "a/b/c2/cpuset.mems": "0",
	} {
		if got := strings.TrimSpace(readFake(t, filepath.Join(cpuset, file))); got != v {
			t.Errorf("%s = %q, want %q", file, got, v)
		}
	}
}

func TestV1FakeUpdate(t *testing.T) {
	subs, root := fakeV1(t, "c1")
	m, err := newV1(subs, "/c1", &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(128 << 20))},
	})
	if err != nil {
		t.Fatal(err)
	}
	mem := filepath.Join(root, "memory/c1")
	order := func(limit, swap int64) []string {
		var files []string
		for _, m := range memoryLimitOrder(mem, &specs.LinuxMemory{Limit: &limit, Swap: &swap}) {
			switch {
			case m.Limit != nil:
				files = append(files, fmt.Sprintf("limit=%d", *m.Limit))
			case m.Swap != nil:
				files = append(files, fmt.Sprintf("memsw=%d", *m.Swap))
			}
		}
		return files
	}
	// Raising both above the current limit: memsw first, or the kernel
	// would see memory > memsw in between.
	if got, want := order(256<<20, 512<<20), []string{"memsw=536870912", "limit=268435456"}; !slices.Equal(got, want) {
		t.Errorf("raising: %v, want %v", got, want)
	}
	// Lowering: the memory limit first.
	if got, want := order(32<<20, 48<<20), []string{"limit=33554432", "memsw=50331648"}; !slices.Equal(got, want) {
		t.Errorf("lowering: %v, want %v", got, want)
	}
	// Lifting both: memsw first.
	if got, want := order(-1, -1), []string{"memsw=-1", "limit=-1"}; !slices.Equal(got, want) {
		t.Errorf("lifting: %v, want %v", got, want)
	}

	if err := m.Update(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(256 << 20)), Swap: ptr(int64(512 << 20))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(-1))},
		// Left out of updates by the library.
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}},
		Network:        &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "eth1", Priority: 3}}},
	}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory/c1/memory.limit_in_bytes":            "268435456",
		"memory/c1/memory.memsw.limit_in_bytes":      "536870912",
		"memory/c1/memory.soft_limit_in_bytes":       unlimited, // not in the update
		"pids/c1/pids.max":                           "max",
		"hugetlb/c1/hugetlb.2MB.limit_in_bytes":      "2097152",
		"hugetlb/c1/hugetlb.2MB.rsvd.limit_in_bytes": "2097152",
		"net_prio/c1/net_prio.ifpriomap":             "eth1 3",
		"devices/c1/devices.deny":                    "", // no rules, no reset
	} {
		if got := strings.TrimSpace(readFake(t, filepath.Join(root, file))); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}

	// checkBeforeUpdate: memory.usage_in_bytes is 4096 in the fake.
	err = m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(1024)), CheckBeforeUpdate: ptr(true)}})
	if !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("limit below usage: %v, want ErrFailedPrecondition", err)
	}
	if got := readFake(t, filepath.Join(mem, "memory.limit_in_bytes")); got != "268435456" {
		t.Errorf("refused update wrote memory.limit_in_bytes = %q", got)
	}
}

// TestV1FakeZeroRealtimeSkipped: nerdctl sends both realtime values as 0,
// and the kernel refuses cpu.rt_period_us=0; like runc, zero is not
// written (TestV1RealZeroRealtime has the kernel's word on it).
func TestV1FakeZeroRealtimeSkipped(t *testing.T) {
	subs, root := fakeV1(t, "rt")
	if _, err := newV1(subs, "/rt", &specs.LinuxResources{CPU: &specs.LinuxCPU{
		RealtimeRuntime: ptr(int64(0)), RealtimePeriod: ptr(uint64(0)), Shares: ptr(uint64(256)),
	}}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"cpu.rt_period_us": "1000000", "cpu.rt_runtime_us": "0", "cpu.shares": "256"} {
		if got := readFake(t, filepath.Join(root, "cpu/rt", file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}

func TestV1FakeRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		drop cgroup1.Name // a hierarchy the host does not mount
		res  *specs.LinuxResources
		kind error
	}{
		"hierarchy missing": {cgroup1.Hugetlb, &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}}, errdefs.ErrNotImplemented},
		"devices missing":   {cgroup1.Devices, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}}, errdefs.ErrNotImplemented},
		"unified map":       {"", &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, errdefs.ErrNotImplemented},
		"device type":       {"", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "x", Access: "r"}}}, errdefs.ErrInvalidArgument},
		"device access":     {"", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Access: "rx"}}}, errdefs.ErrInvalidArgument},
		"device number":     {"", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Major: ptr(int64(-2)), Access: "r"}}}, errdefs.ErrInvalidArgument},
		"hugepage size":     {"", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "../2MB", Limit: 1}}}, errdefs.ErrInvalidArgument},
		"interface name":    {"", &specs.LinuxResources{Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "a b"}}}}, errdefs.ErrInvalidArgument},
	} {
		t.Run(name, func(t *testing.T) {
			subs, root := fakeV1(t, "a")
			if tc.drop != "" {
				subs = withoutSubsystem(subs, tc.drop)
			}
			_, err := newV1(subs, "/a/b", tc.res)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			for mount := range fakeV1Files {
				if _, err := os.Stat(filepath.Join(root, mount, "a/b")); !os.IsNotExist(err) {
					t.Errorf("refused creation left %s/a/b behind: %v", mount, err)
				}
				if _, err := os.Stat(filepath.Join(root, mount, "a")); err != nil {
					t.Errorf("refused creation removed the existing parent: %v", err)
				}
			}
		})
	}
}

func TestV1FakeLoadPidsFreezeDelete(t *testing.T) {
	subs, root := fakeV1(t, "c1", "c1/sub")
	if _, err := loadV1(subs, "/missing"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Load missing: %v, want ErrNotFound", err)
	}
	m, err := loadV1(subs, "/c1")
	if err != nil {
		t.Fatal(err)
	}
	// One process in the pids hierarchy only, one in a child cgroup of
	// the memory hierarchy, one in both.
	for file, content := range map[string]string{
		"pids/c1/cgroup.procs":       "300\n12\n",
		"memory/c1/sub/cgroup.procs": "12\n7\n",
	} {
		if err := os.WriteFile(filepath.Join(root, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if pids, err := m.Pids(); err != nil || !slices.Equal(pids, []int{7, 12, 300}) {
		t.Errorf("Pids = %v, %v; want [7 12 300]", pids, err)
	}
	if err := m.Delete(); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("Delete with processes: %v, want ErrFailedPrecondition", err)
	}
	if _, err := os.Stat(filepath.Join(root, "cpu/c1")); err != nil {
		t.Errorf("refused Delete removed the cgroup where it was empty: %v", err)
	}

	freezer := filepath.Join(root, "freezer/c1/freezer.state")
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := readFake(t, freezer); got != "FROZEN" {
		t.Errorf("freezer.state = %q after Freeze", got)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if got := readFake(t, freezer); got != "THAWED" {
		t.Errorf("freezer.state = %q after Thaw", got)
	}

	if err := m.Add(42); err != nil {
		t.Fatal(err)
	}
	for _, f := range m.ProcsFiles() {
		if got := strings.TrimSpace(readFake(t, f)); !strings.HasPrefix(got, "42") {
			t.Errorf("%s = %q after Add(42)", f, got)
		}
	}

	for _, f := range []string{"pids/c1/cgroup.procs", "memory/c1/sub/cgroup.procs"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range m.ProcsFiles() {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	for mount := range fakeV1Files {
		if _, err := os.Stat(filepath.Join(root, mount, "c1")); !os.IsNotExist(err) {
			t.Errorf("%s/c1 still there: %v", mount, err)
		}
	}
	if err := m.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if _, err := loadV1(subs, "/c1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Load after Delete: %v, want ErrNotFound", err)
	}
}

// TestV1FakeBFQWeight: a kernel with BFQ and without CFQ has only
// blkio.bfq.weight, which the library does not know.
func TestV1FakeBFQWeight(t *testing.T) {
	subs, root := fakeV1(t, "c1")
	for _, d := range []string{"", "c1"} {
		dir := filepath.Join(root, "blkio", d)
		for _, f := range []string{"blkio.weight", "blkio.weight_device"} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []string{"blkio.bfq.weight", "blkio.bfq.weight_device"} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("100"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	m, err := loadV1(subs, "/c1")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Update(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		Weight:       ptr(uint16(300)),
		WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: ptr(uint16(200))}},
	}}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "blkio/c1")
	if got := readFake(t, filepath.Join(dir, "blkio.bfq.weight")); got != "300" {
		t.Errorf("blkio.bfq.weight = %q", got)
	}
	if got := readFake(t, filepath.Join(dir, "blkio.bfq.weight_device")); got != "8:0 200" {
		t.Errorf("blkio.bfq.weight_device = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "blkio.weight")); !os.IsNotExist(err) {
		t.Errorf("blkio.weight written on a BFQ-only kernel: %v", err)
	}
}

func TestNamedHierarchies(t *testing.T) {
	mounts := []*mountinfo.Info{
		{Mountpoint: "/sys/fs/cgroup/systemd", Root: "/", VFSOptions: "rw,xattr,name=systemd"},
		{Mountpoint: "/sys/fs/cgroup/elogind", Root: "/", VFSOptions: "rw,name=elogind"},
		{Mountpoint: "/elsewhere/foo", Root: "/", VFSOptions: "rw,name=foo"},
		{Mountpoint: "/sys/fs/cgroup/bar", Root: "/sub", VFSOptions: "rw,name=bar"},
		{Mountpoint: "/sys/fs/cgroup/memory", Root: "/", VFSOptions: "rw,memory"},
	}
	if got, want := namedHierarchies(mounts, "/sys/fs/cgroup"), []string{"systemd", "elogind"}; !slices.Equal(got, want) {
		t.Errorf("named hierarchies %v, want %v", got, want)
	}
}
