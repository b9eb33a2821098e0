package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const unlimited = "9223372036854771712"

// fakeV1Files are the control files of each fake hierarchy, keyed by its
// mount directory name, with their contents in a new cgroup. As on
// cgroupfs, a file that is missing is a feature the kernel lacks.
var fakeV1Files = map[string]map[string]string{
	"cpu,cpuacct": {
		"cpu.shares": "1024", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1", "cpu.cfs_burst_us": "0",
		"cpu.rt_period_us": "1000000", "cpu.rt_runtime_us": "0", "cpu.idle": "0",
	},
	"cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
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
	"hugetlb":          {"hugetlb.2MB.limit_in_bytes": "0", "hugetlb.2MB.rsvd.limit_in_bytes": "0", "hugetlb.1GB.limit_in_bytes": "0"},
	"net_cls,net_prio": {"net_cls.classid": "0", "net_prio.ifpriomap": "lo 0\n"},
	"rdma":             {"rdma.max": ""},
	"systemd":          {},
}

// fakeV1 lays out v1 hierarchies under a temporary directory, each with
// the given cgroup directories and their control files, and returns the
// hierarchy list a host with such mounts would have.
func fakeV1(t *testing.T, dirs ...string) []hierarchy {
	t.Helper()
	root := t.TempDir()
	var hs []hierarchy
	for mount, files := range fakeV1Files {
		ctls := strings.Split(mount, ",")
		if mount == "systemd" {
			ctls = []string{"name=systemd"}
		}
		hs = append(hs, hierarchy{mountpoint: filepath.Join(root, mount), controllers: ctls})
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
	sort.Slice(hs, func(i, j int) bool { return hs[i].mountpoint < hs[j].mountpoint })
	return hs
}

func mountOf(t *testing.T, hs []hierarchy, ctl string) string {
	t.Helper()
	for _, h := range hs {
		if h.has(ctl) {
			return h.mountpoint
		}
	}
	t.Fatalf("no %s hierarchy", ctl)
	return ""
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
	hs := fakeV1(t, "a", "a/c1")
	res := fullResources()

	// Every write, in order. The memory limit goes before memsw since
	// memsw only ever rises above it; device rules start from deny-all.
	want := []v1Write{
		{"pids", "pids.max", "20"},
		{"net_cls", "net_cls.classid", "1048577"},
		{"net_prio", "net_prio.ifpriomap", "eth0 5"},
		{"net_prio", "net_prio.ifpriomap", "lo 1"},
		{"cpuset", "cpuset.cpus", "1"},
		{"cpuset", "cpuset.mems", "0"},
		{"cpu", "cpu.rt_period_us", "1000000"},
		{"cpu", "cpu.rt_runtime_us", "950000"},
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_burst_us", "1000"},
		{"cpu", "cpu.idle", "1"},
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.memsw.limit_in_bytes", "134217728"},
		{"memory", "memory.soft_limit_in_bytes", "33554432"},
		{"memory", "memory.kmem.limit_in_bytes", "16777216"},
		{"memory", "memory.kmem.tcp.limit_in_bytes", "8388608"},
		{"memory", "memory.oom_control", "1"},
		{"memory", "memory.swappiness", "10"},
		{"memory", "memory.use_hierarchy", "1"},
		{"blkio", "blkio.weight", "500"},
		{"blkio", "blkio.leaf_weight", "300"},
		{"blkio", "blkio.weight_device", "8:0 200"},
		{"blkio", "blkio.leaf_weight_device", "8:0 100"},
		{"blkio", "blkio.throttle.read_bps_device", "8:0 1048576"},
		{"blkio", "blkio.throttle.read_iops_device", "8:16 100"},
		{"blkio", "blkio.throttle.write_bps_device", "8:0 2097152"},
		{"blkio", "blkio.throttle.write_iops_device", "8:16 200"},
		{"rdma", "rdma.max", "mlx4_0 hca_handle=1"},
		{"rdma", "rdma.max", "mlx5_0 hca_handle=3 hca_object=100"},
		{"devices", "devices.deny", "a"},
		{"devices", "devices.deny", "a *:* rwm"},
		{"devices", "devices.allow", "c 1:3 rwm"},
		{"devices", "devices.allow", "b 8:* r"},
		{"devices", "devices.deny", "c 5:1 w"},
		{"devices", "devices.allow", "c *:* m"},
		{"hugetlb", "hugetlb.2MB.limit_in_bytes", "4194304"},
		{"hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes", "4194304"},
		{"hugetlb", "hugetlb.1GB.limit_in_bytes", "1073741824"},
	}
	plan, err := v1Writes((&v1{path: "/a/c1", hs: hs}).dir, res)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plan, want) {
		t.Errorf("writes differ:\n got %q\nwant %q", plan, want)
	}

	m, err := newV1(hs, "/a/c1", res)
	if err != nil {
		t.Fatal(err)
	}
	// Each file holds the last value written to it.
	last := map[string]string{}
	for _, w := range want {
		last[filepath.Join(mountOf(t, hs, w.ctl), "a/c1", w.file)] = w.value
	}
	for path, v := range last {
		if got := readFake(t, path); got != v {
			t.Errorf("%s = %q, want %q", path, got, v)
		}
	}
	// The intermediate cpuset cgroup inherited the root's cpus and mems
	// before the container's own were set.
	cpuset := mountOf(t, hs, "cpuset")
	for file, v := range map[string]string{"a/cpuset.cpus": "0-3", "a/cpuset.mems": "0"} {
		if got := readFake(t, filepath.Join(cpuset, file)); got != v {
			t.Errorf("cpuset %s = %q, want %q", file, got, v)
		}
	}
	// Nothing above the cgroup is written but for that.
	if got := readFake(t, filepath.Join(mountOf(t, hs, "memory"), "a/memory.limit_in_bytes")); got != unlimited {
		t.Errorf("parent memory limit changed to %q", got)
	}

	var procs []string
	for _, h := range hs {
		procs = append(procs, filepath.Join(h.mountpoint, "a/c1/cgroup.procs"))
	}
	if got := m.ProcsFiles(); !slices.Equal(got, procs) {
		t.Errorf("ProcsFiles = %v, want %v", got, procs)
	}
	if m.Path() != "/a/c1" {
		t.Errorf("Path = %q", m.Path())
	}
}

func TestV1FakeCpusetInheritsNearestParent(t *testing.T) {
	hs := fakeV1(t, "a", "a/c2")
	cpuset := mountOf(t, hs, "cpuset")
	if err := os.WriteFile(filepath.Join(cpuset, "a/cpuset.cpus"), []byte("2-3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := newV1(hs, "/a/c2", &specs.LinuxResources{}); err != nil {
		t.Fatal(err)
	}
	for file, v := range map[string]string{
		"a/cpuset.cpus": "2-3", "a/cpuset.mems": "0", // kept / filled from the root
		"a/c2/cpuset.cpus": "2-3", "a/c2/cpuset.mems": "0",
	} {
		if got := strings.TrimSpace(readFake(t, filepath.Join(cpuset, file))); got != v {
			t.Errorf("%s = %q, want %q", file, got, v)
		}
	}
}

func TestV1FakeUpdate(t *testing.T) {
	hs := fakeV1(t, "c1")
	m, err := newV1(hs, "/c1", &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(128 << 20))},
	})
	if err != nil {
		t.Fatal(err)
	}
	mem := filepath.Join(mountOf(t, hs, "memory"), "c1")
	memWrites := func(limit, swap int64) []string {
		plan, err := v1Writes(m.(*v1).dir, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &swap}})
		if err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, w := range plan {
			files = append(files, w.file+"="+w.value)
		}
		return files
	}
	// Raising both above the current limit: memsw first, or the kernel
	// would see memory > memsw in between.
	if got, want := memWrites(256<<20, 512<<20), []string{"memory.memsw.limit_in_bytes=536870912", "memory.limit_in_bytes=268435456"}; !slices.Equal(got, want) {
		t.Errorf("raising: %v, want %v", got, want)
	}
	// Lowering: the memory limit first.
	if got, want := memWrites(32<<20, 48<<20), []string{"memory.limit_in_bytes=33554432", "memory.memsw.limit_in_bytes=50331648"}; !slices.Equal(got, want) {
		t.Errorf("lowering: %v, want %v", got, want)
	}
	// Lifting both: memsw first.
	if got, want := memWrites(-1, -1), []string{"memory.memsw.limit_in_bytes=-1", "memory.limit_in_bytes=-1"}; !slices.Equal(got, want) {
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
		"net_cls,net_prio/c1/net_prio.ifpriomap":     "eth1 3",
		"devices/c1/devices.deny":                    "", // no rules, no reset
	} {
		path := filepath.Join(filepath.Dir(mountOf(t, hs, "memory")), file)
		if got := strings.TrimSpace(readFake(t, path)); got != want {
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

func TestV1FakeRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		drop string // a hierarchy the host does not mount
		res  *specs.LinuxResources
		kind error
	}{
		"hierarchy missing": {"hugetlb", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}}, errdefs.ErrNotImplemented},
		"devices missing":   {"devices", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}}, errdefs.ErrNotImplemented},
		"unified map":       {"", &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, errdefs.ErrNotImplemented},
		"device type":       {"", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "x", Access: "r"}}}, errdefs.ErrInvalidArgument},
		"device access":     {"", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Access: "rx"}}}, errdefs.ErrInvalidArgument},
		"device number":     {"", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Major: ptr(int64(-2)), Access: "r"}}}, errdefs.ErrInvalidArgument},
		"hugepage size":     {"", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "../2MB", Limit: 1}}}, errdefs.ErrInvalidArgument},
	} {
		t.Run(name, func(t *testing.T) {
			hs := fakeV1(t, "a")
			if tc.drop != "" {
				hs = slices.DeleteFunc(hs, func(h hierarchy) bool { return h.has(tc.drop) })
			}
			_, err := newV1(hs, "/a/b", tc.res)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			for _, h := range hs {
				if _, err := os.Stat(filepath.Join(h.mountpoint, "a/b")); !os.IsNotExist(err) {
					t.Errorf("refused creation left %s/a/b behind: %v", h.mountpoint, err)
				}
				if _, err := os.Stat(filepath.Join(h.mountpoint, "a")); err != nil {
					t.Errorf("refused creation removed the existing parent: %v", err)
				}
			}
		})
	}
}

// TestV1FakeFileMissing models a kernel without a feature: the control
// file is not there, which is ErrNotImplemented, not a file to create.
func TestV1FakeFileMissing(t *testing.T) {
	hs := fakeV1(t, "a")
	_, err := newV1(hs, "/a", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "16GB", Limit: 1}}})
	if !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Fatalf("err = %v, want ErrNotImplemented", err)
	}
	if _, err := os.Stat(filepath.Join(mountOf(t, hs, "hugetlb"), "a/hugetlb.16GB.limit_in_bytes")); !os.IsNotExist(err) {
		t.Errorf("control file created: %v", err)
	}
}

func TestV1FakeLoadPidsFreezeDelete(t *testing.T) {
	hs := fakeV1(t, "c1", "c1/sub")
	if _, err := loadV1(hs, "/missing"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Load missing: %v, want ErrNotFound", err)
	}
	m, err := loadV1(hs, "/c1")
	if err != nil {
		t.Fatal(err)
	}
	// One process in the pids hierarchy only, one in a child cgroup of
	// the memory hierarchy, one in both.
	for file, content := range map[string]string{
		"pids/c1/cgroup.procs":       "300\n12\n",
		"memory/c1/sub/cgroup.procs": "12\n7\n",
	} {
		if err := os.WriteFile(filepath.Join(filepath.Dir(mountOf(t, hs, "pids")), file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if pids, err := m.Pids(); err != nil || !slices.Equal(pids, []int{7, 12, 300}) {
		t.Errorf("Pids = %v, %v; want [7 12 300]", pids, err)
	}
	if err := m.Delete(); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("Delete with processes: %v, want ErrFailedPrecondition", err)
	}

	freezer := filepath.Join(mountOf(t, hs, "freezer"), "c1/freezer.state")
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
		if got := readFake(t, f); got != "42" {
			t.Errorf("%s = %q after Add(42)", f, got)
		}
	}

	for _, f := range []string{"pids/c1/cgroup.procs", "memory/c1/sub/cgroup.procs"} {
		if err := os.WriteFile(filepath.Join(filepath.Dir(mountOf(t, hs, "pids")), f), nil, 0o644); err != nil {
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
	for _, h := range hs {
		if _, err := os.Stat(filepath.Join(h.mountpoint, "c1")); !os.IsNotExist(err) {
			t.Errorf("%s/c1 still there: %v", h.mountpoint, err)
		}
	}
	if err := m.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if _, err := loadV1(hs, "/c1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Load after Delete: %v, want ErrNotFound", err)
	}
}

func TestBlkioWeightFiles(t *testing.T) {
	dir := t.TempDir()
	if w, d := blkioWeightFiles(dir); w != "blkio.weight" || d != "blkio.weight_device" {
		t.Errorf("neither scheduler: %s %s", w, d)
	}
	if err := os.WriteFile(filepath.Join(dir, "blkio.bfq.weight"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if w, d := blkioWeightFiles(dir); w != "blkio.bfq.weight" || d != "blkio.bfq.weight_device" {
		t.Errorf("BFQ only: %s %s", w, d)
	}
	if err := os.WriteFile(filepath.Join(dir, "blkio.weight"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if w, _ := blkioWeightFiles(dir); w != "blkio.weight" {
		t.Errorf("CFQ and BFQ: %s", w)
	}
}

func TestV1Controllers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cgroup")
	content := "12:cpu,cpuacct:/a\n9:name=systemd:/\n3:memory:/x\n0::/\n"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := v1Controllers(p)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	if want := []string{"cpu", "cpuacct", "memory", "name=systemd"}; !slices.Equal(names, want) {
		t.Errorf("controllers %v, want %v", names, want)
	}
}
