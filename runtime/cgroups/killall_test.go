package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// recorder is a Manager that records calls and fails on demand.
type recorder struct {
	Manager
	calls              []string
	freezeErr, pidsErr error
	pids               []int
	thawErr            error
}

func (r *recorder) Path() string { return "/rec" }
func (r *recorder) Freeze() error {
	r.calls = append(r.calls, "freeze")
	return r.freezeErr
}
func (r *recorder) Thaw() error {
	r.calls = append(r.calls, "thaw")
	return r.thawErr
}
func (r *recorder) Pids() ([]int, error) {
	r.calls = append(r.calls, "pids")
	return r.pids, r.pidsErr
}

func TestKillAllAlwaysThaws(t *testing.T) {
	boom := errors.New("boom")
	for name, r := range map[string]*recorder{
		"pids fails":   {pidsErr: boom},
		"freeze fails": {freezeErr: boom},
		"empty":        {},
	} {
		t.Run(name, func(t *testing.T) {
			err := KillAll(r, syscall.SIGTERM, time.Second)
			if !slices.Contains(r.calls, "thaw") {
				t.Errorf("calls %v: cgroup left frozen", r.calls)
			}
			if r.pidsErr != nil && !errors.Is(err, boom) {
				t.Errorf("err = %v, want the Pids error", err)
			}
			if r.pidsErr == nil && err != nil {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// The signal can kill the last process and the container's delete remove
// the cgroup before the thaw: the kill worked. Any other thaw failure is
// still an error.
func TestKillAllCgroupGoneBeforeThaw(t *testing.T) {
	gone := &os.PathError{Op: "open", Path: "/rec/freezer.state", Err: syscall.ENOENT}
	for _, gone := range []error{gone, fmt.Errorf("cgroup /rec: %w", errdefs.ErrNotFound)} {
		if err := KillAll(&recorder{thawErr: gone}, syscall.SIGTERM, 0); err != nil {
			t.Fatalf("thaw of a removed cgroup: %v", err)
		}
	}
	busy := &os.PathError{Op: "write", Path: "/rec/freezer.state", Err: syscall.EBUSY}
	if err := KillAll(&recorder{thawErr: busy}, syscall.SIGTERM, 0); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("thaw failure: err = %v, want EBUSY", err)
	}
}

func TestKillAllTimeout(t *testing.T) {
	// A pid that never goes away: our own, which SIGCONT does not harm.
	r := &recorder{pids: []int{os.Getpid()}}
	if err := KillAll(r, syscall.SIGCONT, 0); err != nil {
		t.Fatal(err)
	}
	r = &recorder{pids: []int{os.Getpid()}}
	start := time.Now()
	// Only SIGKILL waits; SIGCONT with a timeout returns at once.
	if err := KillAll(r, syscall.SIGCONT, time.Hour); err != nil || time.Since(start) > time.Minute {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
}

func skipUnlessV1(t *testing.T) {
	t.Helper()
	needRoot(t)
	if unifiedHost() {
		t.Skip("host is cgroup v2 only")
	}
}

func TestV1UpdateAndRefusals(t *testing.T) {
	skipUnlessV1(t)
	path := uniquePath(t)
	limit := int64(20)
	m, err := New(path, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	unlimited := int64(-1)
	mem := int64(32 << 20)
	if err := m.Update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &unlimited}, Memory: &specs.LinuxMemory{Limit: &mem}}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join("/sys/fs/cgroup/pids", path, "pids.max")); got != "max" {
		t.Errorf("pids.max = %q after lifting the limit", got)
	}
	if got := read(t, filepath.Join("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes")); got != "33554432" {
		t.Errorf("memory.limit_in_bytes = %q", got)
	}
	if err := m.Update(&specs.LinuxResources{Unified: map[string]string{"pids.max": "3"}}); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("unified map on v1: %v, want ErrNotImplemented", err)
	}

	// A refused creation leaves no directory in any hierarchy.
	if _, err := os.Stat("/sys/fs/cgroup/hugetlb"); err == nil {
		t.Log("hugetlb is mounted; refusal checked through the unified map only")
	} else {
		bad := path + "-bad"
		_, err := New(bad, &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}})
		if !errors.Is(err, errdefs.ErrNotImplemented) {
			t.Errorf("hugetlb without its hierarchy: %v, want ErrNotImplemented", err)
		}
	}
	bad := path + "-bad2"
	if _, err := New(bad, &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("unified on v1: %v, want ErrNotImplemented", err)
	}
	// A write the kernel refuses fails the library after it created the
	// directories of the hierarchies it handled first.
	cpus := "9999"
	if _, err := New(bad, &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: cpus}}); err == nil {
		t.Errorf("cpuset.cpus %s accepted", cpus)
	}
	for _, b := range []string{path + "-bad", bad} {
		if left, _ := filepath.Glob("/sys/fs/cgroup/*" + b); len(left) > 0 {
			t.Errorf("refused New left %v", left)
		}
	}
}

// TestV1KillAllForks kills a shell that keeps forking, with SIGTERM through
// the freezer and then SIGKILL, and checks nothing is left frozen or alive.
func TestV1KillAllForks(t *testing.T) {
	skipUnlessV1(t)
	path := uniquePath(t)
	limit := int64(30)
	m, err := New(path, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	var script strings.Builder
	for _, f := range m.ProcsFiles() {
		script.WriteString("echo 0 > " + f + "; ")
	}
	// The shell ignores TERM so that SIGKILL has work to do.
	script.WriteString("trap '' TERM; while :; do sleep 100 & sleep 0.01; done")
	cmd := exec.Command("sh", "-c", script.String())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, _ := m.Pids()
		if len(pids) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %v in the cgroup", pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := KillAll(m, syscall.SIGTERM, time.Second); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join("/sys/fs/cgroup/freezer", path, "freezer.state")); got != "THAWED" {
		t.Errorf("freezer.state = %q after KillAll", got)
	}
	if pids, _ := m.Pids(); !slices.Contains(pids, cmd.Process.Pid) {
		t.Errorf("the shell ignoring TERM is gone: %v", pids)
	}
	if err := KillAll(m, syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if pids, err := m.Pids(); err != nil || len(pids) != 0 {
		t.Fatalf("after SIGKILL: %v, %v", pids, err)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Load after Delete: %v, want ErrNotFound", err)
	}
}

func unifiedForTest(t *testing.T) string {
	t.Helper()
	needRoot(t)
	mountpoint := "/sys/fs/cgroup/unified"
	if unifiedHost() {
		mountpoint = "/sys/fs/cgroup"
	}
	if _, err := os.Stat(filepath.Join(mountpoint, "cgroup.procs")); err != nil {
		t.Skip("no cgroup2 hierarchy")
	}
	return mountpoint
}

// TestV2RealDevices checks that device rules become an eBPF filter that the
// kernel enforces, which needs no controller.
func TestV2RealDevices(t *testing.T) {
	mountpoint := unifiedForTest(t)
	path := uniquePath(t)
	one, three := int64(1), int64(3)
	m, err := newV2(mountpoint, path, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: &one, Minor: &three, Access: "rwm"}, // /dev/null
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	run := func(dev string) error {
		script := "echo 0 > " + m.ProcsFiles()[0] + " && exec head -c1 " + dev + " > /dev/null"
		out, err := exec.Command("sh", "-c", script).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	if err := run("/dev/null"); err != nil {
		t.Errorf("/dev/null denied: %v", err)
	}
	if err := run("/dev/zero"); err == nil {
		t.Error("/dev/zero allowed despite deny-all")
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
}

// TestV2RealKillAllTerm goes through freeze, signal and thaw on a real
// cgroup2 (SIGKILL would use cgroup.kill instead).
func TestV2RealKillAllTerm(t *testing.T) {
	mountpoint := unifiedForTest(t)
	path := uniquePath(t)
	m, err := newV2(mountpoint, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	if _, err := loadV2(mountpoint, path); err != nil {
		t.Fatal(err)
	}
	if _, err := loadV2(mountpoint, path+"-none"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("load missing: %v, want ErrNotFound", err)
	}
	cmd := startIn(t, m)
	if err := m.Delete(); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("Delete with a process: %v, want ErrFailedPrecondition", err)
	}
	if err := KillAll(m, syscall.SIGTERM, 0); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(mountpoint, path, "cgroup.freeze")); got != "0" {
		t.Errorf("cgroup.freeze = %q after KillAll", got)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("sleep ended with %v, want SIGTERM", err)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}
