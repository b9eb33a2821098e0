package cgroups

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	sddbus "github.com/coreos/go-systemd/v22/dbus"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Where systemd does not run, New says so, and creates nothing.
func TestSystemdNotRunning(t *testing.T) {
	created := false
	h := systemdHost{
		running: func() error { return errors.New("stat /run/systemd/system: no such file or directory") },
		dial: func(context.Context) (*sddbus.Conn, error) {
			t.Error("dialled D-Bus although systemd does not run")
			return nil, errors.New("no")
		},
		newFS: func(string, *specs.LinuxResources) (Manager, error) { created = true; return nil, errors.New("no") },
	}
	_, err := newSystemd(h, "system.slice:raind:c1", nil)
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "systemd cgroup driver: systemd is not running (stat /run/systemd/system") {
		t.Errorf("New: %v, want FailedPrecondition saying systemd is not running", err)
	}
	// /run/systemd/system there, but no D-Bus to reach systemd on.
	h.running = func() error { return nil }
	h.dial = func(context.Context) (*sddbus.Conn, error) {
		return nil, errors.New("dial unix /run/systemd/private: connect: no such file or directory")
	}
	_, err = newSystemd(h, "system.slice:raind:c1", nil)
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "systemd cgroup driver: systemd is not running (connect to its D-Bus API: dial unix") {
		t.Errorf("New: %v, want FailedPrecondition saying systemd is not running", err)
	}
	if created {
		t.Error("a cgroup was created")
	}
	// A bad path is bad input whether or not systemd runs.
	if _, err := newSystemd(h, "system:raind:c1", nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad path: %v, want InvalidArgument", err)
	}
}

// On this host, the package's own New: the answer depends on whether the
// host was booted with systemd, and is tested for the one it has.
func TestSystemdOnThisHost(t *testing.T) {
	if fi, err := os.Lstat("/run/systemd/system"); err == nil && fi.IsDir() {
		t.Skip("this host runs systemd: the not-running refusal cannot be seen here (TestSystemdNotRunning covers it)")
	}
	_, err := New("system.slice:raind-test:notrunning", &specs.LinuxResources{})
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "systemd cgroup driver: systemd is not running") {
		t.Fatalf("New: %v, want FailedPrecondition", err)
	}
	// Cleaning up after a container that never was needs no systemd.
	if _, err := Load("system.slice:raind-test:notrunning"); !errdefs.IsNotFound(err) {
		t.Fatalf("Load: %v, want NotFound", err)
	}
	if _, err := New("system.slice:raind-test", nil); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("New with two parts: %v, want InvalidArgument", err)
	}
}

// The whole life of a scope through go-systemd, against a fake systemd on
// a private bus: the directories and limits come first, the scope starts
// with the first process, updates go to systemd and then to the files, and
// Delete stops the unit once the cgroup is empty.
func TestSystemdScopeLifecycle(t *testing.T) {
	addr := privateBus(t)
	sd := startFakeSystemd(t, addr)
	for _, v2 := range []bool{false, true} {
		fs := map[string]*fakeFS{}
		h := fakeHost(addr, v2, fs, nil)
		res := &specs.LinuxResources{
			Memory:  &specs.LinuxMemory{Limit: i64(64 << 20)},
			CPU:     &specs.LinuxCPU{Quota: i64(12345), Period: u64(100000), Shares: u64(512)},
			Pids:    &specs.LinuxPids{Limit: i64(50)},
			Devices: []specs.LinuxDeviceCgroup{{Access: "rwm"}, dev(true, "c", 1, 3, "rwm")},
		}
		m, err := newSystemd(h, "kubepods-besteffort.slice:cri-containerd:abc", res)
		if err != nil {
			t.Fatal(err)
		}
		const dir = "/kubepods.slice/kubepods-besteffort.slice/cri-containerd-abc.scope"
		f := fs[dir]
		if f == nil {
			t.Fatalf("v2=%v: no cgroup at %s: %v", v2, dir, fs)
		}
		if got := *f.res[0].CPU.Quota; got != 13000 {
			t.Errorf("v2=%v: file quota %d, want 13000, as systemd rounds it", v2, got)
		}
		if got := methods(sd.take()); len(got) != 0 {
			t.Errorf("v2=%v: systemd asked %v before there is a process", v2, got)
		}
		if m.Path() != "kubepods-besteffort.slice:cri-containerd:abc" || !reflect.DeepEqual(m.ProcsFiles(), []string{"/fake" + dir + "/cgroup.procs"}) {
			t.Errorf("v2=%v: path %q procs %v", v2, m.Path(), m.ProcsFiles())
		}

		if err := m.(Attacher).Attach(4242); err != nil {
			t.Fatal(err)
		}
		calls := sd.take()
		if got := methods(calls); !reflect.DeepEqual(got, []string{"StartTransientUnit cri-containerd-abc.scope"}) {
			t.Fatalf("v2=%v: calls %v", v2, got)
		}
		p := calls[0].props
		if calls[0].mode != "replace" || p["Slice"] != "kubepods-besteffort.slice" || p["Delegate"] != true ||
			!reflect.DeepEqual(p["PIDs"], []uint32{4242}) || p["DefaultDependencies"] != false ||
			p["TasksMax"] != uint64(50) || p["CPUQuotaPerSecUSec"] != uint64(130000) || p["DevicePolicy"] != "strict" {
			t.Errorf("v2=%v: start properties %v", v2, p)
		}
		if v2 {
			if p["MemoryMax"] != uint64(64<<20) || p["CPUWeight"] != sharesToWeight(512) || p["IOAccounting"] != true {
				t.Errorf("v2 properties %v", p)
			}
		} else if p["MemoryLimit"] != uint64(64<<20) || p["CPUShares"] != uint64(512) || p["BlockIOAccounting"] != true {
			t.Errorf("v1 properties %v", p)
		}
		if da, ok := p["DeviceAllow"].([][]any); !ok || len(da) != 1 || da[0][0] != "/dev/char/1:3" || da[0][1] != "rwm" {
			t.Errorf("v2=%v: DeviceAllow %#v", v2, p["DeviceAllow"])
		}

		// Update: systemd first, then the files.
		if err := m.Update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(80)}}); err != nil {
			t.Fatal(err)
		}
		calls = sd.take()
		if got := methods(calls); !reflect.DeepEqual(got, []string{"SetUnitProperties cri-containerd-abc.scope"}) ||
			!reflect.DeepEqual(calls[0].props, map[string]any{"TasksMax": uint64(80)}) {
			t.Errorf("v2=%v: update calls %v %v", v2, got, calls)
		}
		if len(f.res) != 2 || *f.res[1].Pids.Limit != 80 {
			t.Errorf("v2=%v: files not updated: %v", v2, f.res)
		}

		// Not while processes remain: systemd would kill them.
		f.pids = []int{4242}
		if err := m.Delete(); !errdefs.IsFailedPrecondition(err) {
			t.Errorf("v2=%v: Delete with a process: %v", v2, err)
		}
		if got := sd.take(); len(got) != 0 || f.deleted {
			t.Errorf("v2=%v: Delete with a process stopped the unit: %v", v2, methods(got))
		}
		f.pids = nil
		if err := m.Delete(); err != nil {
			t.Fatal(err)
		}
		if got := methods(sd.take()); !reflect.DeepEqual(got, []string{"StopUnit cri-containerd-abc.scope", "ResetFailedUnit cri-containerd-abc.scope"}) || !f.deleted {
			t.Errorf("v2=%v: Delete: %v, files deleted %v", v2, got, f.deleted)
		}
		// Again, as after a crashed shim: the unit is gone, which is no
		// error.
		l, err := loadSystemd(h, "kubepods-besteffort.slice:cri-containerd:abc")
		if err != nil {
			t.Fatal(err)
		}
		f.deleted = false
		if err := l.Delete(); err != nil || !f.deleted {
			t.Errorf("v2=%v: Delete after the unit is gone: %v, files deleted %v", v2, err, f.deleted)
		}
		sd.take()
	}
}

// A slice unit starts with New, without a process, and is stopped again
// if its files cannot be made.
func TestSystemdSliceUnit(t *testing.T) {
	addr := privateBus(t)
	sd := startFakeSystemd(t, addr)
	fs := map[string]*fakeFS{}
	m, err := newSystemd(fakeHost(addr, true, fs, nil), "machine.slice:x:machine-c1.slice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if f := fs["/machine.slice/machine-c1.slice"]; f == nil || f.res[0] == nil {
		t.Fatalf("no resources are no limits, not nil: %v", fs)
	}
	calls := sd.take()
	if got := methods(calls); !reflect.DeepEqual(got, []string{"StartTransientUnit machine-c1.slice"}) {
		t.Fatalf("calls %v", got)
	}
	if p := calls[0].props; !reflect.DeepEqual(p["Wants"], []string{"machine.slice"}) || p["PIDs"] != nil || p["Slice"] != nil {
		t.Errorf("slice properties %v", p)
	}
	if fs["/machine.slice/machine-c1.slice"] == nil {
		t.Errorf("files: %v", fs)
	}
	if err := m.(Attacher).Attach(7); err != nil || len(sd.take()) != 0 {
		t.Errorf("Attach of a slice: %v", err)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	sd.take()

	_, err = newSystemd(fakeHost(addr, true, fs, errdefs.ErrNotImplemented), "machine.slice:x:machine-c2.slice", &specs.LinuxResources{})
	if !errdefs.IsNotImplemented(err) {
		t.Fatalf("files failing: %v", err)
	}
	if got := methods(sd.take()); !reflect.DeepEqual(got, []string{"StartTransientUnit machine-c2.slice", "StopUnit machine-c2.slice", "ResetFailedUnit machine-c2.slice"}) {
		t.Errorf("calls %v", got)
	}
}

// A failed unit of the same name is reset and the start tried again, as
// systemd keeps failed units listed; a start job that fails is an error,
// and the unit is reset.
func TestSystemdStartFailures(t *testing.T) {
	addr := privateBus(t)
	sd := startFakeSystemd(t, addr)
	fs := map[string]*fakeFS{}
	h := fakeHost(addr, false, fs, nil)

	sd.mu.Lock()
	sd.failUnits["p-bad.scope"] = true
	sd.mu.Unlock()
	m, err := newSystemd(h, "system.slice:p:bad", &specs.LinuxResources{})
	if err != nil {
		t.Fatal(err)
	}
	err = m.(Attacher).Attach(10)
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "job failed") {
		t.Errorf("failed job: %v", err)
	}
	if got := methods(sd.take()); !reflect.DeepEqual(got, []string{"StartTransientUnit p-bad.scope", "ResetFailedUnit p-bad.scope"}) {
		t.Errorf("calls %v", got)
	}

	// A leftover failed unit.
	sd.mu.Lock()
	sd.units["p-old.scope"] = false
	sd.mu.Unlock()
	m, _ = newSystemd(h, "system.slice:p:old", &specs.LinuxResources{})
	if err := m.(Attacher).Attach(11); err != nil {
		t.Fatal(err)
	}
	if got := methods(sd.take()); !reflect.DeepEqual(got, []string{"StartTransientUnit p-old.scope", "ResetFailedUnit p-old.scope", "StartTransientUnit p-old.scope"}) {
		t.Errorf("calls %v", got)
	}
	// A running unit of that name is another container's.
	m, _ = newSystemd(h, "system.slice:p:old", &specs.LinuxResources{})
	if err := m.(Attacher).Attach(12); !errdefs.IsAlreadyExists(err) {
		t.Errorf("running unit: %v, want AlreadyExists", err)
	}
	sd.take()

	// systemd refusing a property is bad input.
	m, _ = newSystemd(h, "system.slice:p:new", &specs.LinuxResources{})
	if err := m.(Attacher).Attach(-1); !errdefs.IsInvalidArgument(err) {
		t.Errorf("pid -1: %v", err)
	}
	if err := m.Update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(3)}}); !errdefs.IsNotFound(err) {
		t.Errorf("update of a unit systemd does not have: %v, want NotFound", err)
	}
}

// An old systemd is given none of the properties it would refuse the
// whole unit for.
func TestSystemdOldVersion(t *testing.T) {
	addr := privateBus(t)
	sd := startFakeSystemd(t, addr)
	sd.mu.Lock()
	sd.version = "v239"
	sd.mu.Unlock()
	fs := map[string]*fakeFS{}
	m, err := newSystemd(fakeHost(addr, true, fs, nil), "system.slice:p:old", &specs.LinuxResources{
		CPU: &specs.LinuxCPU{Quota: i64(50000), Period: u64(100000), Cpus: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.(Attacher).Attach(5); err != nil {
		t.Fatal(err)
	}
	calls := sd.take()
	if len(calls) != 1 {
		t.Fatalf("calls %v", methods(calls))
	}
	p := calls[0].props
	if _, ok := p["CPUQuotaPeriodUSec"]; ok {
		t.Errorf("CPUQuotaPeriodUSec given to systemd 239")
	}
	if _, ok := p["AllowedCPUs"]; ok {
		t.Errorf("AllowedCPUs given to systemd 239")
	}
	if p["CPUQuotaPerSecUSec"] != uint64(500000) {
		t.Errorf("properties %v", sortedNames(p))
	}
}
