package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1/stats"
	stats2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// rootDevice is the major:minor of the block device behind dir, for the
// blkio rules and figures of the real tests.
func rootDevice(t *testing.T, dir string) (int64, int64) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	major, minor := int64(unix.Major(st.Dev)), int64(unix.Minor(st.Dev))
	// A partition's throttling is done on its disk; only whole disks are
	// tested here.
	if _, err := os.Stat(fmt.Sprintf("/sys/dev/block/%d:%d/partition", major, minor)); err == nil || major == 0 {
		t.Skipf("%s is not on a whole block device (%d:%d)", dir, major, minor)
	}
	return major, minor
}

// TestV1RealUpdateAll applies every v1 resource the issue names to a live
// cgroup with a process in it, and reads each back from the kernel's own
// files: memory and swap, reservation, cpu shares, quota and period,
// cpuset, pids and a blkio throttle. Hugetlb has no v1 hierarchy on a
// hybrid host that leaves it to cgroup2, and unified keys have no place on
// v1: both are refused by name.
func TestV1RealUpdateAll(t *testing.T) {
	skipUnlessV1(t)
	major, minor := rootDevice(t, "/var/tmp")
	path := uniquePath(t)
	m, err := New(path, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(256 << 20))}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	startIn(t, m)

	cpus := "0"
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(96 << 20)), Swap: ptr(int64(128 << 20)), Reservation: ptr(int64(32 << 20))},
		CPU:    &specs.LinuxCPU{Shares: ptr(uint64(300)), Quota: ptr(int64(20000)), Period: ptr(uint64(50000)), Cpus: cpus, Mems: "0"},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(33))},
		BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: 1 << 30},
		}},
	}
	if err := m.Update(res); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory/memory.limit_in_bytes":         fmt.Sprint(96 << 20),
		"memory/memory.memsw.limit_in_bytes":   fmt.Sprint(128 << 20),
		"memory/memory.soft_limit_in_bytes":    fmt.Sprint(32 << 20),
		"cpu/cpu.shares":                       "300",
		"cpu/cpu.cfs_quota_us":                 "20000",
		"cpu/cpu.cfs_period_us":                "50000",
		"cpuset/cpuset.cpus":                   cpus,
		"cpuset/cpuset.mems":                   "0",
		"pids/pids.max":                        "33",
		"blkio/blkio.throttle.read_bps_device": fmt.Sprintf("%d:%d %d", major, minor, 1<<30),
	} {
		controller, name, _ := strings.Cut(file, "/")
		if got := read(t, filepath.Join("/sys/fs/cgroup", controller, path, name)); got != want {
			t.Errorf("%s = %q after Update, want %q", file, got, want)
		}
	}

	// Swap below the memory limit: the kernel refuses memsw < limit, the
	// error says which file and the limits stay as they were.
	err = m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(96 << 20)), Swap: ptr(int64(64 << 20))}})
	if err == nil || !strings.Contains(err.Error(), "memsw") {
		t.Errorf("swap below the limit: %v, want a refusal naming memsw", err)
	}
	if got := read(t, filepath.Join("/sys/fs/cgroup/memory", path, "memory.memsw.limit_in_bytes")); got != fmt.Sprint(128<<20) {
		t.Errorf("memsw after a refused update = %s", got)
	}

	hugetlbMounted := false
	if _, err := os.Stat("/sys/fs/cgroup/hugetlb"); err == nil {
		hugetlbMounted = true
	}
	err = m.Update(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}})
	if !hugetlbMounted && (!errors.Is(err, errdefs.ErrNotImplemented) || !strings.Contains(err.Error(), "hugetlb")) {
		t.Errorf("hugetlb limit without a v1 hugetlb hierarchy: %v, want NotImplemented naming hugetlb", err)
	}
	err = m.Update(&specs.LinuxResources{Unified: map[string]string{"memory.high": "max"}})
	if !errors.Is(err, errdefs.ErrNotImplemented) || !strings.Contains(err.Error(), "unified") {
		t.Errorf("unified keys on v1: %v, want NotImplemented naming them", err)
	}
}

// TestV1RealStatsBlkio: the blkio figures in Stats are the container's
// own direct writes to the disk (the throttle layer counts bios, so
// O_DIRECT writes show even before writeback).
func TestV1RealStatsBlkio(t *testing.T) {
	skipUnlessV1(t)
	if _, err := os.Stat("/sys/fs/cgroup/blkio"); err != nil {
		t.Skip("no v1 blkio hierarchy")
	}
	dir := t.TempDir()
	if st, err := os.Stat("/var/tmp"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/var/tmp", "raind-blkio-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(d) })
		dir = d
	}
	major, minor := rootDevice(t, dir)
	path := uniquePath(t)
	m, err := New(path, &specs.LinuxResources{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	var script strings.Builder
	for _, f := range m.ProcsFiles() {
		fmt.Fprintf(&script, "echo 0 > %s && ", f)
	}
	fmt.Fprintf(&script, "exec dd if=/dev/zero of=%s/f bs=1M count=4 oflag=direct", dir)
	if out, err := exec.Command("sh", "-c", script.String()).CombinedOutput(); err != nil {
		t.Fatalf("dd: %v %s", err, out)
	}
	msg, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	st, ok := msg.(*stats.Metrics)
	if !ok {
		t.Fatalf("Stats gave %T", msg)
	}
	var written uint64
	for _, e := range st.GetBlkio().GetIoServiceBytesRecursive() {
		if int64(e.Major) == major && int64(e.Minor) == minor && strings.EqualFold(e.Op, "write") {
			written += e.Value
		}
	}
	if written < 4<<20 {
		t.Errorf("blkio write bytes on %d:%d = %d, want at least 4 MiB (entries %v)", major, minor, written, st.GetBlkio().GetIoServiceBytesRecursive())
	}
	if st.GetMemory() == nil || st.GetCPU().GetUsage().GetTotal() == 0 {
		t.Errorf("memory or cpu figures missing: %v %v", st.GetMemory(), st.GetCPU())
	}
}

// TestV2RealHugetlb: a hybrid host leaves hugetlb to cgroup2, so the v2
// manager sets and reports hugetlb limits on the real unified hierarchy
// (no huge pages need to be reserved to set a limit).
func TestV2RealHugetlb(t *testing.T) {
	mountpoint := unifiedForTest(t)
	b, _ := os.ReadFile(filepath.Join(mountpoint, "cgroup.controllers"))
	if !strings.Contains(string(b), "hugetlb") {
		t.Skip("no hugetlb controller on the cgroup2 hierarchy")
	}
	if _, err := os.Stat("/sys/kernel/mm/hugepages/hugepages-2048kB"); err != nil {
		t.Skip("no 2 MB huge pages")
	}
	path := uniquePath(t)
	m, err := newV2(mountpoint, path, &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 8 << 20}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	dir := filepath.Join(mountpoint, path)
	if got := read(t, filepath.Join(dir, "hugetlb.2MB.max")); got != fmt.Sprint(8<<20) {
		t.Errorf("hugetlb.2MB.max = %s at creation", got)
	}
	if err := m.Update(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "hugetlb.2MB.max")); got != fmt.Sprint(4<<20) {
		t.Errorf("hugetlb.2MB.max = %s after Update", got)
	}
	// A page size the kernel does not have is refused before any write.
	err = m.Update(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "3MB", Limit: 4 << 20}}})
	if err == nil {
		t.Error("a 3MB page size was accepted")
	}
	if got := read(t, filepath.Join(dir, "hugetlb.2MB.max")); got != fmt.Sprint(4<<20) {
		t.Errorf("hugetlb.2MB.max = %s after a refused update", got)
	}
	msg, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	st, ok := msg.(*stats2.Metrics)
	if !ok {
		t.Fatalf("Stats gave %T", msg)
	}
	found := false
	for _, h := range st.GetHugetlb() {
		if h.Pagesize == "2MB" && h.Max == 4<<20 {
			found = true
		}
	}
	if !found {
		t.Errorf("hugetlb stats %v, want 2MB with a max of 4 MiB", st.GetHugetlb())
	}
}
