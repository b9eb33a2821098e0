package cgroups

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
)

// privateBus runs a dbus-daemon of the test's own and returns its address.
// The daemon is killed, by its pid, when the test ends.
func privateBus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Fatalf("dbus-daemon not installed (hack/install-deps.sh installs it): %v", err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus")
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=`+sock+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config-file="+conf, "--nofork", "--nopidfile", "--nosyslog")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dbus-daemon: %s", stderr.String())
		}
	})
	// The socket file appears at bind, before the daemon accepts.
	addr := "unix:path=" + sock
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := dialBus(addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("dbus-daemon does not answer: %v", err)
		}
	}
}

func dialBus(addr string) (*godbus.Conn, error) {
	c, err := godbus.Dial(addr)
	if err != nil {
		return nil, err
	}
	if err = c.Auth(nil); err == nil {
		err = c.Hello()
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// sdCall is one call the fake systemd received.
type sdCall struct {
	method, unit, mode string
	props              map[string]any
}

type sdProperty struct {
	Name  string
	Value godbus.Variant
}

type sdAux struct {
	Name  string
	Props []sdProperty
}

// fakeSystemd serves the part of org.freedesktop.systemd1.Manager that the
// driver uses, on a private bus, recording every call. Like systemd, it
// refuses a scope without PIDs, a unit that already runs, and stopping a
// unit it does not have; a unit named in failUnits has its start job fail.
type fakeSystemd struct {
	conn *godbus.Conn

	mu        sync.Mutex
	calls     []sdCall
	units     map[string]bool // true: active, false: failed
	jobs      uint32
	failUnits map[string]bool
	version   string
	// onSet, if set, runs at every SetUnitProperties.
	onSet func()
}

func startFakeSystemd(t *testing.T, addr string) *fakeSystemd {
	t.Helper()
	conn, err := dialBus(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f := &fakeSystemd{conn: conn, units: map[string]bool{}, failUnits: map[string]bool{}, version: "255.4-1"}
	if err := conn.Export(f, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(fakeProps{f}, "/org/freedesktop/systemd1", "org.freedesktop.DBus.Properties"); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.RequestName("org.freedesktop.systemd1", godbus.NameFlagDoNotQueue); err != nil || r != godbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own org.freedesktop.systemd1: %v %v", r, err)
	}
	return f
}

type fakeProps struct{ f *fakeSystemd }

func (p fakeProps) Get(iface, name string) (godbus.Variant, *godbus.Error) {
	if iface == "org.freedesktop.systemd1.Manager" && name == "Version" {
		p.f.mu.Lock()
		defer p.f.mu.Unlock()
		return godbus.MakeVariant(p.f.version), nil
	}
	return godbus.Variant{}, godbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{name})
}

func propsOf(ps []sdProperty) map[string]any {
	m := map[string]any{}
	for _, p := range ps {
		m[p.Name] = p.Value.Value()
	}
	return m
}

func (f *fakeSystemd) record(c sdCall) {
	f.calls = append(f.calls, c)
}

// job answers with a job path and announces its end after the reply, as
// systemd does.
func (f *fakeSystemd) job(unit, result string) godbus.ObjectPath {
	f.jobs++
	id := f.jobs
	p := godbus.ObjectPath(fmt.Sprintf("/org/freedesktop/systemd1/job/%d", id))
	go func() {
		time.Sleep(5 * time.Millisecond)
		_ = f.conn.Emit("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager.JobRemoved", id, p, unit, result)
	}()
	return p
}

func (f *fakeSystemd) StartTransientUnit(name, mode string, props []sdProperty, aux []sdAux) (godbus.ObjectPath, *godbus.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pm := propsOf(props)
	f.record(sdCall{method: "StartTransientUnit", unit: name, mode: mode, props: pm})
	if active, ok := f.units[name]; ok {
		return "", godbus.NewError("org.freedesktop.systemd1.UnitExists", []any{fmt.Sprintf("Unit %s was already loaded or has a fragment file.", name), active})
	}
	if filepath.Ext(name) == ".scope" && len(pm["PIDs"].([]uint32)) == 0 {
		return "", godbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"Scope has no PIDs. Refusing."})
	}
	if f.failUnits[name] {
		f.units[name] = false
		return f.job(name, "failed"), nil
	}
	f.units[name] = true
	return f.job(name, "done"), nil
}

func (f *fakeSystemd) StopUnit(name, mode string) (godbus.ObjectPath, *godbus.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(sdCall{method: "StopUnit", unit: name, mode: mode})
	if _, ok := f.units[name]; !ok {
		return "", godbus.NewError("org.freedesktop.systemd1.NoSuchUnit", []any{"Unit " + name + " not loaded."})
	}
	delete(f.units, name)
	return f.job(name, "done"), nil
}

func (f *fakeSystemd) SetUnitProperties(name string, runtime bool, props []sdProperty) *godbus.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(sdCall{method: "SetUnitProperties", unit: name, props: propsOf(props)})
	if f.onSet != nil {
		f.onSet()
	}
	if _, ok := f.units[name]; !ok {
		return godbus.NewError("org.freedesktop.systemd1.NoSuchUnit", []any{"Unit " + name + " not loaded."})
	}
	if !runtime {
		return godbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"raind must not persist properties"})
	}
	return nil
}

func (f *fakeSystemd) ResetFailedUnit(name string) *godbus.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(sdCall{method: "ResetFailedUnit", unit: name})
	if active, ok := f.units[name]; ok && !active {
		delete(f.units, name)
	}
	return nil
}

// take returns the calls so far and forgets them.
func (f *fakeSystemd) take() []sdCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func methods(calls []sdCall) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.method+" "+c.unit)
	}
	return out
}

// fakeFS is a cgroupfs manager that records what the systemd driver asks
// of it.
type fakeFS struct {
	mu      sync.Mutex
	dir     string
	res     []*specs.LinuxResources
	pids    []int
	deleted bool
}

func (m *fakeFS) Path() string                                       { return m.dir }
func (m *fakeFS) ProcsFiles() []string                               { return []string{"/fake" + m.dir + "/cgroup.procs"} }
func (m *fakeFS) ExecProcsFiles(int) ([]string, error)               { return m.ProcsFiles(), nil }
func (m *fakeFS) Add(int) error                                      { return nil }
func (m *fakeFS) Freeze() error                                      { return nil }
func (m *fakeFS) Thaw() error                                        { return nil }
func (m *fakeFS) Stats() (proto.Message, error)                      { return nil, nil }
func (m *fakeFS) OOMEvents(context.Context) (<-chan struct{}, error) { return nil, nil }
func (m *fakeFS) OOMKills() (uint64, error)                          { return 0, nil }
func (m *fakeFS) Pids() ([]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pids, nil
}
func (m *fakeFS) Update(res *specs.LinuxResources) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.res = append(m.res, res)
	return nil
}
func (m *fakeFS) Delete() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deleted = true
	return nil
}

// fakeHost is a systemd host on the private bus, with cgroupfs managers
// that record; fs holds them by directory.
func fakeHost(addr string, v2 bool, fs map[string]*fakeFS, fsErr error) systemdHost {
	return systemdHost{
		running: func() error { return nil },
		dial: func(ctx context.Context) (*sddbus.Conn, error) {
			return sddbus.NewConnection(func() (*godbus.Conn, error) { return dialBus(addr) })
		},
		v2: v2,
		newFS: func(dir string, res *specs.LinuxResources) (Manager, error) {
			if fsErr != nil {
				return nil, fsErr
			}
			m := &fakeFS{dir: dir, res: []*specs.LinuxResources{res}}
			fs[dir] = m
			return m, nil
		},
		loadFS: func(dir string) (Manager, error) {
			if m, ok := fs[dir]; ok {
				return m, nil
			}
			return nil, fmt.Errorf("no %s", dir)
		},
		procDevices: func() (string, error) { return testProcDevices, nil },
		timeout:     10 * time.Second,
	}
}

func sortedNames(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
