package cgroups

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The tests here measure where github.com/containerd/cgroups/v3 is wrong,
// which is why the package does those parts itself. Each fails once the
// library is fixed, and the work-around can go.

// TestLibraryBlkioWeight: cgroup2.ToResources converts the blkio weight in
// uint16 arithmetic, (500-10)*9999 overflows, and the result goes to
// io.bfq.weight, whose range is the blkio one. runc writes 500 to
// io.bfq.weight, or 1+(500-10)*9999/990 = 4950 to io.weight, as
// v2Resources does (TestV2FakeNewWritesLimits, TestV2Limits).
func TestLibraryBlkioWeight(t *testing.T) {
	lib := cgroup2.ToResources(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(500))}})
	if got := lib.IO.BFQ.Weight; got != 51 {
		t.Errorf("library converts blkio weight 500 to %d; was 51: recheck v2Resources", got)
	}
	if got := blkioToIOWeight(500); got != 4950 {
		t.Errorf("blkioToIOWeight(500) = %d, want 4950", got)
	}
	for w, want := range map[uint16]uint64{10: 1, 1000: 10000, 1: 1, 65535: 10000} {
		if got := blkioToIOWeight(w); got != want {
			t.Errorf("blkioToIOWeight(%d) = %d, want %d", w, got, want)
		}
	}
	// Unlimited swap with a memory limit becomes a negative swap.max.
	lib = cgroup2.ToResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(1 << 20)), Swap: ptr(int64(-1))}})
	if got := *lib.Memory.Swap; got != -1-(1<<20) {
		t.Errorf("library swap for unlimited = %d; was -1048577: recheck v2Resources", got)
	}
	res, extra, err := v2Resources(t.TempDir(), &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(1 << 20)), Swap: ptr(int64(-1))}})
	if err != nil || res.Memory.Swap != nil || len(extra) != 1 || extra[0] != (setting{"memory.swap.max", "max"}) {
		t.Errorf("unlimited swap: %+v %v %v, want memory.swap.max=max", res.Memory, extra, err)
	}
}

// TestLibraryDeviceFilterSharedBit has the kernel run the library's v2
// device filter: a rule allowing only reads of /dev/full lets it be opened
// read-write, since the library matches a rule when the request shares
// any access bit with it. raind's filter refuses that open
// (TestV2RealDeviceFilter). The library's attach also only ever adds a
// program, which could narrow an update but never widen it.
func TestLibraryDeviceFilterSharedBit(t *testing.T) {
	mountpoint := unifiedForTest(t)
	dir := filepath.Join(mountpoint, uniquePath(t))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	wildcard, one, three, seven := int64(-1), int64(1), int64(3), int64(7)
	insts, license, err := cgroup2.DeviceFilter([]specs.LinuxDeviceCgroup{
		{Allow: false, Type: "a", Major: &wildcard, Minor: &wildcard, Access: "rwm"},
		{Allow: true, Type: "c", Major: &one, Minor: &three, Access: "rwm"}, // /dev/null
		{Allow: true, Type: "c", Major: &one, Minor: &seven, Access: "r"},   // /dev/full, read only
	})
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	detach, err := cgroup2.LoadAttachCgroupDeviceFilter(insts, license, fd)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = detach() }()
	got := openInCgroup(t, dir, "/dev/full:r", "/dev/full:rw", "/dev/zero:r")
	if got["/dev/full:r"] != "ok" || got["/dev/zero:r"] != "EPERM" {
		t.Fatalf("library filter: %v", got)
	}
	if got["/dev/full:rw"] != "ok" {
		t.Errorf("library filter now refuses /dev/full read-write (%s): recheck the decision to keep raind's filter", got["/dev/full:rw"])
	}
}
