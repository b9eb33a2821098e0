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

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestV1Subsystems(t *testing.T) {
	skipUnlessV1(t)
	subs, err := v1Subsystems()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[cgroup1.Name]string{}
	for _, s := range subs {
		p, ok := s.(pather)
		if !ok {
			continue
		}
		if _, err := os.Stat(filepath.Join(p.Path("/"), "cgroup.procs")); err != nil {
			t.Errorf("%s: %v", s.Name(), err)
		}
		if prev, ok := seen[s.Name()]; ok {
			t.Errorf("%s in %s and %s", s.Name(), prev, p.Path("/"))
		}
		seen[s.Name()] = p.Path("/")
	}
	for _, c := range []cgroup1.Name{cgroup1.Memory, cgroup1.Pids, cgroup1.Freezer, cgroup1.Cpu} {
		if _, ok := seen[c]; !ok {
			t.Errorf("no %s hierarchy in %v", c, seen)
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/systemd"); err == nil {
		if _, ok := seen["systemd"]; !ok {
			t.Errorf("named systemd hierarchy missing from %v", seen)
		}
	}
}

// TestV1RealAddFreezeDelete runs the v1 manager on the host's hierarchies:
// limits and device rules as the kernel reports them, a process moved in
// with Add, freezing, and deletion of every directory, a nested one too.
func TestV1RealAddFreezeDelete(t *testing.T) {
	skipUnlessV1(t)
	path := uniquePath(t)
	one, three, five := int64(1), int64(3), int64(5)
	m, err := New(path, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(48 << 20))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(12))},
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: &one, Minor: &three, Access: "rwm"},
			{Allow: true, Type: "c", Major: &one, Minor: &five, Access: "r"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	for file, want := range map[string]string{
		"memory/memory.limit_in_bytes": "50331648",
		"pids/pids.max":                "12",
		"devices/devices.list":         "c 1:3 rwm\nc 1:5 r",
	} {
		ctl, name, _ := strings.Cut(file, "/")
		if got := read(t, filepath.Join("/sys/fs/cgroup", ctl, path, name)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}

	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	if err := m.Add(pid); err != nil {
		t.Fatal(err)
	}
	if pids, err := m.Pids(); err != nil || !slices.Equal(pids, []int{pid}) {
		t.Fatalf("Pids = %v, %v; want [%d]", pids, err, pid)
	}
	files := m.ProcsFiles()
	for _, f := range files {
		if got := read(t, f); got != fmt.Sprint(pid) {
			t.Errorf("%s = %q, want %d", f, got, pid)
		}
	}
	// The kernel agrees, in every hierarchy.
	own := read(t, fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, line := range strings.Split(own, "\n") {
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && parts[1] != "" && parts[2] != path {
			t.Errorf("pid %d is in %s", pid, line)
		}
	}

	freezer := filepath.Join("/sys/fs/cgroup/freezer", path, "freezer.state")
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, freezer); got != "FROZEN" {
		t.Errorf("freezer.state = %q after Freeze", got)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, freezer); got != "THAWED" {
		t.Errorf("freezer.state = %q after Thaw", got)
	}

	// A cgroup the container made inside its own goes too.
	nested := filepath.Join("/sys/fs/cgroup/memory", path, "nested")
	if err := os.Mkdir(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("Delete with a process: %v, want ErrFailedPrecondition", err)
	}
	if err := KillAll(m, syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	subs, err := v1Subsystems()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if p, ok := s.(pather); ok {
			if _, err := os.Stat(p.Path(path)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left: %v", p.Path(path), err)
			}
		}
	}
	if len(files) != len(subs) {
		t.Errorf("%d procs files for %d hierarchies", len(files), len(subs))
	}
	if _, err := Load(path); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Load after Delete: %v, want ErrNotFound", err)
	}
}
