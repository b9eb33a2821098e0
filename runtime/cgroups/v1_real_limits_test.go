package cgroups

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestV1RealZeroRealtime creates a cgroup with the zero realtime values
// nerdctl sends: the kernel refuses cpu.rt_period_us=0 with EINVAL, so
// this fails unless zeros are skipped.
func TestV1RealZeroRealtime(t *testing.T) {
	skipUnlessV1(t)
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.rt_period_us"); err != nil {
		t.Skip("no realtime group scheduling")
	}
	path := uniquePath(t)
	m, err := New(path, &specs.LinuxResources{CPU: &specs.LinuxCPU{
		RealtimeRuntime: ptr(int64(0)), RealtimePeriod: ptr(uint64(0)), Shares: ptr(uint64(256)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Delete() })
	if got := read(t, filepath.Join("/sys/fs/cgroup/cpu", path, "cpu.shares")); got != "256" {
		t.Errorf("cpu.shares = %q", got)
	}
	if got, parent := read(t, filepath.Join("/sys/fs/cgroup/cpu", path, "cpu.rt_period_us")), read(t, "/sys/fs/cgroup/cpu/cpu.rt_period_us"); got != parent {
		t.Errorf("cpu.rt_period_us = %q, want the default %q", got, parent)
	}
	// An update with zeros is no different.
	if err := m.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr(int64(0)), RealtimePeriod: ptr(uint64(0))}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
}

// TestV1RealMemswOrder raises, lowers and lifts the memory and memory+swap
// limits together: the kernel refuses every intermediate state where the
// memory limit is above the memory+swap one.
func TestV1RealMemswOrder(t *testing.T) {
	skipUnlessV1(t)
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err != nil {
		t.Skip("no swap accounting")
	}
	path := uniquePath(t)
	m, err := New(path, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(128 << 20))}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Delete() })
	dir := filepath.Join("/sys/fs/cgroup/memory", path)
	for _, step := range []struct{ limit, swap int64 }{
		{256 << 20, 512 << 20}, // raise both: memsw first
		{32 << 20, 48 << 20},   // lower both: memory first
		{-1, -1},               // lift both: memsw first
		{16 << 20, 16 << 20},   // from unlimited: memory first
	} {
		if err := m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &step.limit, Swap: &step.swap}}); err != nil {
			t.Fatalf("limit %d, swap %d: %v", step.limit, step.swap, err)
		}
		want := func(v int64) string {
			if v < 0 {
				return read(t, "/sys/fs/cgroup/memory/memory.limit_in_bytes")
			}
			return strconv.FormatInt(v, 10)
		}
		if got := read(t, filepath.Join(dir, "memory.limit_in_bytes")); got != want(step.limit) {
			t.Errorf("memory.limit_in_bytes = %s, want %s", got, want(step.limit))
		}
		if got := read(t, filepath.Join(dir, "memory.memsw.limit_in_bytes")); got != want(step.swap) {
			t.Errorf("memory.memsw.limit_in_bytes = %s, want %s", got, want(step.swap))
		}
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
}

// TestV1RealBFQWeight sets a blkio weight where the kernel has BFQ's
// blkio.bfq.weight (in cgroups below the root only) and not CFQ's
// blkio.weight: the library wrote only the latter, which fails.
func TestV1RealBFQWeight(t *testing.T) {
	skipUnlessV1(t)
	path := uniquePath(t)
	m, err := New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Delete() })
	dir := filepath.Join("/sys/fs/cgroup/blkio", path)
	if _, err := os.Stat(filepath.Join(dir, "blkio.bfq.weight")); err != nil {
		t.Skip("no BFQ")
	}
	if _, err := os.Stat(filepath.Join(dir, "blkio.weight")); err == nil {
		t.Skip("CFQ's blkio.weight is there")
	}
	if err := m.Update(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(300))}}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "blkio.bfq.weight")); !strings.HasSuffix(got, "300") {
		t.Errorf("blkio.bfq.weight = %q, want 300", got)
	}
}

// TestLibErrorMissingControlFile: the library creates control files, which
// cgroupfs refuses with EACCES when the kernel lacks the feature; that is
// ErrNotImplemented, and ErrNotFound when the cgroup itself is gone.
func TestLibErrorMissingControlFile(t *testing.T) {
	skipUnlessV1(t)
	path := uniquePath(t)
	m, err := New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Delete() })
	dir := filepath.Join("/sys/fs/cgroup/memory", path)
	err = os.WriteFile(filepath.Join(dir, "memory.no_such_knob"), []byte("1"), 0)
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("creating a control file: %v, want EACCES", err)
	}
	if err := libError(err); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("libError = %v, want ErrNotImplemented", err)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	err = os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte("1"), 0)
	if err := libError(err); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("libError after removal = %v, want ErrNotFound", err)
	}
}

// TestV1RealStats reads the library's metrics of a cgroup with a process.
func TestV1RealStats(t *testing.T) {
	skipUnlessV1(t)
	path := uniquePath(t)
	m, err := New(path, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(48 << 20))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(12))},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	cmd := startInAfter(t, m, "i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done")
	msg, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	st, ok := msg.(*stats.Metrics)
	if !ok {
		t.Fatalf("Stats gave %T, want *cgroup1/stats.Metrics", msg)
	}
	if st.Pids == nil || st.Pids.Current != 1 || st.Pids.Limit != 12 {
		t.Errorf("pids stats %v, want 1 of 12", st.Pids)
	}
	if st.Memory == nil || st.Memory.Usage.Limit != 48<<20 || st.Memory.Usage.Usage == 0 {
		t.Errorf("memory stats %v, want a 48 MiB limit and some usage", st.Memory)
	}
	if st.CPU == nil || st.CPU.Usage.Total == 0 {
		t.Errorf("cpu stats %v, want some usage", st.CPU)
	}
	if err := KillAll(m, syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stats(); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Stats of a deleted cgroup: %v, want ErrNotFound", err)
	}
}

// TestV1RealUpdateRemoved: an update of a cgroup someone else removed is
// ErrNotFound, and does not bring its directories back (the library's
// controllers create them on update).
func TestV1RealUpdateRemoved(t *testing.T) {
	skipUnlessV1(t)
	path := uniquePath(t)
	m, err := New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Delete() })
	other, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(); err != nil {
		t.Fatal(err)
	}
	err = m.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr(uint64(256))}, Pids: &specs.LinuxPids{Limit: ptr(int64(5))}})
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("update of a removed cgroup: %v, want ErrNotFound", err)
	}
	for _, ctl := range []string{"cpu", "pids", "memory"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctl, path)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s cgroup back after the update: %v", ctl, err)
		}
	}
}

// TestV1RealLimitBelowUsage: the kernel refuses a memory limit it cannot
// reclaim down to, with EBUSY; Update reports that as FailedPrecondition
// (the container's state refuses it, the value itself is fine) and the old
// limit stays.
func TestV1RealLimitBelowUsage(t *testing.T) {
	skipUnlessV1(t)
	if b, err := os.ReadFile("/proc/swaps"); err != nil || strings.Count(string(b), "\n") > 1 {
		t.Skip("swap on: the kernel could swap the usage out instead of refusing")
	}
	path := uniquePath(t)
	m, err := New(path, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20))}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	// 16 MiB of tmpfs charged to the cgroup: without swap, nothing the
	// kernel can reclaim. Removed first at cleanup, which uncharges it.
	shm := filepath.Join("/dev/shm", strings.ReplaceAll(filepath.Base(path), "/", "-"))
	t.Cleanup(func() { _ = os.Remove(shm) })
	dir := filepath.Join("/sys/fs/cgroup/memory", path)
	fill := exec.Command("sh", "-c", `echo $$ >"$1/cgroup.procs" && exec dd if=/dev/zero of="$2" bs=1M count=16 2>/dev/null`, "sh", dir, shm)
	if out, err := fill.CombinedOutput(); err != nil {
		t.Fatalf("fill: %v %s", err, out)
	}
	err = m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(4 << 20))}})
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !errors.Is(err, syscall.EBUSY) {
		t.Errorf("limit below usage: %v, want ErrFailedPrecondition and EBUSY", err)
	}
	if got := read(t, filepath.Join(dir, "memory.limit_in_bytes")); got != strconv.Itoa(64<<20) {
		t.Errorf("memory.limit_in_bytes = %s after the refused update, want %d", got, 64<<20)
	}
}
