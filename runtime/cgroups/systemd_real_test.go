package cgroups

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSystemdRealFiles runs the systemd driver on this host's cgroupfs with
// the fake systemd in systemd's place: the unit's directories at the
// translated place with the limits in force before any process, a process
// joining through ProcsFiles, the scope started with it, on a hybrid host
// the unified directory systemd makes joined by later processes, and
// everything gone after Delete.
func TestSystemdRealFiles(t *testing.T) {
	needRoot(t)
	addr := privateBus(t)
	sd := startFakeSystemd(t, addr)
	h := realSystemd()
	h.running = func() error { return nil }
	h.dial = func(context.Context) (*sddbus.Conn, error) {
		return sddbus.NewConnection(func() (*godbus.Conn, error) { return dialBus(addr) })
	}
	slice := fmt.Sprintf("raindcgtest%d.slice", os.Getpid())
	path := slice + ":raind:" + strings.ReplaceAll(t.Name(), "/", "_")
	dir := "/" + slice + "/raind-" + strings.ReplaceAll(t.Name(), "/", "_") + ".scope"
	t.Cleanup(func() {
		removeEverywhere(dir)
		removeEverywhere("/" + slice)
		if h.unified != "" {
			_ = os.Remove(filepath.Join(h.unified, dir))
			_ = os.Remove(filepath.Join(h.unified, slice))
		}
	})

	m, err := newSystemd(h, path, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(48 << 20))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(30))},
	})
	if err != nil {
		t.Fatal(err)
	}
	memDir, memFile := "/sys/fs/cgroup/memory"+dir, "memory.limit_in_bytes"
	pidsDir := "/sys/fs/cgroup/pids" + dir
	if h.v2 {
		memDir, memFile, pidsDir = "/sys/fs/cgroup"+dir, "memory.max", "/sys/fs/cgroup"+dir
	}
	if got, _ := readFile(memDir, memFile); got != fmt.Sprint(48<<20) {
		t.Errorf("%s/%s = %q", memDir, memFile, got)
	}
	if got, _ := readFile(pidsDir, "pids.max"); got != "30" {
		t.Errorf("%s/pids.max = %q", pidsDir, got)
	}
	if len(sd.take()) != 0 {
		t.Error("systemd asked before there is a process")
	}

	first := startIn(t, m)
	if err := m.(Attacher).Attach(first.Process.Pid); err != nil {
		t.Fatal(err)
	}
	calls := sd.take()
	if len(calls) != 1 || calls[0].unit != "raind-"+strings.ReplaceAll(t.Name(), "/", "_")+".scope" ||
		calls[0].props["Slice"] != slice || !reflect.DeepEqual(calls[0].props["PIDs"], []uint32{uint32(first.Process.Pid)}) {
		t.Fatalf("start: %+v", calls)
	}

	if h.unified != "" {
		// What systemd does on a hybrid host when it starts the scope.
		if err := os.MkdirAll(filepath.Join(h.unified, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(m.ProcsFiles(), filepath.Join(h.unified, dir, "cgroup.procs")) {
			t.Errorf("ProcsFiles %v lack the unified directory", m.ProcsFiles())
		}
		// An exec joins it too.
		if files, err := m.ExecProcsFiles(os.Getpid()); err != nil || !slices.Contains(files, filepath.Join(h.unified, dir, "cgroup.procs")) {
			t.Errorf("ExecProcsFiles %v, %v lack the unified directory", files, err)
		}
		second := startIn(t, m)
		cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", second.Process.Pid))
		if !strings.Contains(string(cg), "\n0::"+dir+"\n") && !strings.HasPrefix(string(cg), "0::"+dir+"\n") {
			t.Errorf("a later process is not in the unified directory:\n%s", cg)
		}
	}

	// New device rules reach systemd with the cgroup frozen on v1.
	var stateAtSet string
	sd.mu.Lock()
	sd.onSet = func() { stateAtSet, _ = readFile("/sys/fs/cgroup/freezer"+dir, "freezer.state") }
	sd.mu.Unlock()
	if err := m.Update(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Access: "rwm"}, dev(true, "c", 1, 3, "rwm")}}); err != nil {
		t.Fatal(err)
	}
	if calls := sd.take(); len(calls) != 1 || calls[0].props["DevicePolicy"] != "strict" {
		t.Errorf("update: %+v", calls)
	}
	if !h.v2 {
		if stateAtSet != "FROZEN" {
			t.Errorf("freezer.state %q while systemd set the device rules", stateAtSet)
		}
		if got, _ := readFile("/sys/fs/cgroup/freezer"+dir, "freezer.state"); got != "THAWED" {
			t.Errorf("freezer.state %q after the update", got)
		}
		if got, _ := readFile("/sys/fs/cgroup/devices"+dir, "devices.list"); got != "c 1:3 rwm" {
			t.Errorf("devices.list %q", got)
		}
	}

	if err := m.Delete(); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Delete with processes: %v", err)
	}
	if err := KillAll(m, syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	if got := methods(sd.take()); len(got) < 1 || got[0] != "StopUnit "+calls[0].unit {
		t.Errorf("Delete: %v", got)
	}
	if _, err := loadSystemd(h, path); !errdefs.IsNotFound(err) {
		t.Errorf("Load after Delete: %v", err)
	}
	if h.unified != "" {
		if _, err := os.Stat(filepath.Join(h.unified, dir)); !os.IsNotExist(err) {
			t.Errorf("unified directory after Delete: %v", err)
		}
	}
}
