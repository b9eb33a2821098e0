package cgroups

import (
	"context"
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

	stats2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
}

// testParent is the cgroup every real test works under, one per test
// process so that concurrent runs do not remove each other's.
func testParent() string { return fmt.Sprintf("/raind-cgtest-%d", os.Getpid()) }

func uniquePath(t *testing.T) string {
	// The shared parent goes once the test's own cgroup is gone.
	t.Cleanup(func() { removeEverywhere(testParent()) })
	return fmt.Sprintf("%s/%s-%d", testParent(), strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
}

func removeEverywhere(path string) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + path)
	dirs = append(dirs, "/sys/fs/cgroup"+path)
	for _, d := range dirs {
		_ = os.Remove(d)
	}
}

// startIn starts sleep and has it join the cgroup through ProcsFiles, the
// way the nsenter constructor does.
func startIn(t *testing.T, m Manager) *exec.Cmd {
	t.Helper()
	return startInAfter(t, m, "")
}

// startInAfter is startIn with work shell code run in the cgroup before
// the exec of sleep, for tests that need CPU time charged there: joining
// and exec alone were once charged as 0 ns on a loaded machine.
func startInAfter(t *testing.T, m Manager, work string) *exec.Cmd {
	t.Helper()
	var script strings.Builder
	for _, f := range m.ProcsFiles() {
		fmt.Fprintf(&script, "echo 0 > %s && ", f)
	}
	if work != "" {
		script.WriteString(work + "; ")
	}
	script.WriteString("exec sleep 100")
	cmd := exec.Command("sh", "-c", script.String())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Joined everywhere once the shell has become sleep: Pids
		// already lists it after the first of its writes.
		pids, _ := m.Pids()
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		if slices.Contains(pids, cmd.Process.Pid) && strings.TrimSpace(string(comm)) == "sleep" {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never joined %s (pids %v)", cmd.Process.Pid, m.Path(), pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestV1Real(t *testing.T) {
	needRoot(t)
	if unifiedHost() {
		t.Skip("host is cgroup v2 only")
	}
	path := uniquePath(t)
	mem := int64(64 << 20)
	pids := int64(20)
	shares := uint64(512)
	m, err := New(path, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &mem},
		Pids:   &specs.LinuxPids{Limit: &pids},
		CPU:    &specs.LinuxCPU{Shares: &shares},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	for file, want := range map[string]string{
		"memory/" + path + "/memory.limit_in_bytes": "67108864",
		"pids/" + path + "/pids.max":                "20",
		"cpu/" + path + "/cpu.shares":               "512",
	} {
		if got := read(t, filepath.Join("/sys/fs/cgroup", file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	files := m.ProcsFiles()
	if len(files) < 5 {
		t.Fatalf("procs files %v", files)
	}
	cmd := startIn(t, m)
	for _, f := range files {
		if !strings.Contains(read(t, f), fmt.Sprint(cmd.Process.Pid)) {
			t.Errorf("%d missing from %s", cmd.Process.Pid, f)
		}
	}
	if err := m.Delete(); err == nil {
		t.Fatal("deleted a cgroup with a live process")
	}
	if err := KillAll(m, syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Dir(f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists", filepath.Dir(f))
		}
	}
	if err := m.Delete(); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if _, err := Load(path); err == nil {
		t.Error("loaded a deleted cgroup")
	}
}

// TestV2RealUnified runs the v2 manager on a real cgroup2 hierarchy: the
// controller-less one a hybrid host mounts at /sys/fs/cgroup/unified, or
// the root of a v2 host. Freeze and the process list need no controllers.
func TestV2RealUnified(t *testing.T) {
	needRoot(t)
	mountpoint := "/sys/fs/cgroup/unified"
	if unifiedHost() {
		mountpoint = "/sys/fs/cgroup"
	}
	if _, err := os.Stat(filepath.Join(mountpoint, "cgroup.procs")); err != nil {
		t.Skip("no cgroup2 hierarchy")
	}
	path := uniquePath(t)
	m, err := newV2(mountpoint, path, &specs.LinuxResources{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	cmd := startIn(t, m)
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(mountpoint, path, "cgroup.freeze")); got != "1" {
		t.Errorf("cgroup.freeze %q after Freeze", got)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if err := KillAll(m, syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cmd.Wait().Error(), "killed") {
		t.Error("process was not killed")
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mountpoint, path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup dir left: %v", err)
	}
	_ = os.Remove(filepath.Join(mountpoint, filepath.Dir(path)))
}

// TestV2RealStats reads the library's metrics from a real cgroup2, where
// cpu.stat exists without any controller, and finds no OOM source there.
func TestV2RealStats(t *testing.T) {
	mountpoint := unifiedForTest(t)
	path := uniquePath(t)
	m, err := newV2(mountpoint, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	cmd := exec.Command("sh", "-c", "echo 0 > "+m.ProcsFiles()[0]+" && i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	msg, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	st, ok := msg.(*stats2.Metrics)
	if !ok {
		t.Fatalf("Stats gave %T, want *cgroup2/stats.Metrics", msg)
	}
	if st.CPU == nil || st.CPU.UsageUsec == 0 {
		t.Errorf("cpu stats %v, want the shell's usage", st.CPU)
	}
	// One sleep, one thread: counted from cgroup.threads when there is
	// no pids controller, read from pids.current when there is.
	cmd = startIn(t, m)
	if msg, err = m.Stats(); err != nil {
		t.Fatal(err)
	}
	if p := msg.(*stats2.Metrics).Pids; p == nil || p.Current != 1 {
		t.Errorf("pids %v with one sleep in the cgroup", p)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if _, err := m.OOMEvents(context.Background()); !errors.Is(err, errdefs.ErrNotImplemented) && mountpoint != "/sys/fs/cgroup" {
		t.Errorf("OOM events without a memory controller: %v, want ErrNotImplemented", err)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
}
