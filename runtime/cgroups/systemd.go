package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/errdefs"
	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// systemdJobTimeout bounds the wait for systemd to finish starting or
// stopping a unit, as runc's driver does.
const systemdJobTimeout = 30 * time.Second

// systemdHost is how the systemd driver reaches systemd and the cgroup
// files; tests replace each part with a fake.
type systemdHost struct {
	// running fails unless systemd is the init (sd_booted: the
	// directory /run/systemd/system exists).
	running func() error
	// dial connects to systemd's D-Bus API.
	dial func(ctx context.Context) (*sddbus.Conn, error)
	// v2 tells whether the host is cgroup v2 only.
	v2 bool
	// newFS and loadFS create and load the cgroup's files at a
	// directory relative to the hierarchy roots (New and Load's
	// cgroupfs managers).
	newFS  func(dir string, res *specs.LinuxResources) (Manager, error)
	loadFS func(dir string) (Manager, error)
	// unified is the cgroup2 mount of a hybrid host, where systemd
	// tracks its units' processes, or "".
	unified string
	// procDevices is the text of /proc/devices, or an error.
	procDevices func() (string, error)
	timeout     time.Duration
}

// realSystemd is this host's systemd.
func realSystemd() systemdHost {
	h := systemdHost{
		running: func() error {
			fi, err := os.Lstat("/run/systemd/system")
			if err != nil {
				return err
			}
			if !fi.IsDir() {
				return fmt.Errorf("/run/systemd/system is not a directory")
			}
			return nil
		},
		// The system bus, or as root systemd's private socket when
		// there is no bus daemon.
		dial:    sddbus.NewWithContext,
		v2:      unifiedHost(),
		timeout: systemdJobTimeout,
		procDevices: func() (string, error) {
			b, err := os.ReadFile("/proc/devices")
			return string(b), err
		},
	}
	if h.v2 {
		h.newFS = func(dir string, res *specs.LinuxResources) (Manager, error) {
			return newV2(unifiedMountpoint, dir, res)
		}
		h.loadFS = func(dir string) (Manager, error) { return loadV2(unifiedMountpoint, dir) }
		return h
	}
	h.newFS = func(dir string, res *specs.LinuxResources) (Manager, error) {
		subs, err := v1Subsystems()
		if err != nil {
			return nil, err
		}
		return newV1(subs, dir, res)
	}
	h.loadFS = func(dir string) (Manager, error) {
		subs, err := v1Subsystems()
		if err != nil {
			return nil, err
		}
		return loadV1(subs, dir)
	}
	if _, err := os.Stat(filepath.Join(unifiedMountpoint, "unified", "cgroup.procs")); err == nil {
		h.unified = filepath.Join(unifiedMountpoint, "unified")
	}
	return h
}

// notRunning is the error of a driver that cannot reach systemd.
func notRunning(err error) error {
	return fmt.Errorf("systemd cgroup driver: systemd is not running (%v): %w", err, errdefs.ErrFailedPrecondition)
}

// connect checks that systemd runs and connects to it.
func (h systemdHost) connect(ctx context.Context) (*sddbus.Conn, error) {
	if err := h.running(); err != nil {
		return nil, notRunning(err)
	}
	conn, err := h.dial(ctx)
	if err != nil {
		return nil, notRunning(fmt.Errorf("connect to its D-Bus API: %w", err))
	}
	return conn, nil
}

// systemdVersion asks systemd its version; 0 if it does not say, which
// leaves out every property of a later version.
func systemdVersion(ctx context.Context, conn *sddbus.Conn) int {
	v, err := conn.GetManagerProperty("Version")
	if err != nil {
		return 0
	}
	return parseSystemdVersion(v)
}

// parseSystemdVersion takes the number at the start of a version string
// as D-Bus renders it: `"255.4-1"`, `"v245"`.
func parseSystemdVersion(v string) int {
	v = strings.TrimLeft(v, `"v`)
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(v[:end])
	if err != nil {
		return 0
	}
	return n
}

// systemdCgroup is a cgroup systemd owns as a unit. As with runc's driver,
// systemd creates the unit and applies the limits it knows; raind writes
// them all to the files too, through the cgroupfs manager embedded here,
// which also does everything systemd has no API for: joining, listing,
// freezing, statistics, OOM events.
type systemdCgroup struct {
	Manager
	path string
	unit systemdUnit
	host systemdHost
	// res are the resources a scope is started with (Attach).
	res *specs.LinuxResources
}

// newSystemd creates the cgroup of a "slice:prefix:name" path. A slice
// unit is started here; a scope, which systemd starts only with a process
// in it, when Attach gives it the container's first one. Until then the
// directories exist with the limits in force, made as the cgroupfs driver
// makes them, for the process to join.
func newSystemd(h systemdHost, path string, res *specs.LinuxResources) (Manager, error) {
	u, err := parseSystemdPath(path)
	if err != nil {
		return nil, err
	}
	if res == nil {
		res = &specs.LinuxResources{}
	}
	ctx := context.Background()
	conn, err := h.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	devices, err := h.procDevices()
	if err != nil {
		return nil, fmt.Errorf("read /proc/devices: %w", err)
	}
	resProps, fileRes, err := resourceProperties(h.v2, systemdVersion(ctx, conn), res, devices)
	if err != nil {
		return nil, err
	}
	c := &systemdCgroup{path: path, unit: u, host: h, res: fileRes}
	if u.isSlice() {
		if err := c.startUnit(ctx, conn, unitProperties(u, h.v2, 0, resProps)); err != nil {
			return nil, err
		}
	}
	c.Manager, err = h.newFS(u.dir, fileRes)
	if err != nil {
		if u.isSlice() {
			_ = c.stopUnit(ctx, conn)
		}
		return nil, fmt.Errorf("systemd unit %s: %w", u.unit, err)
	}
	return c, nil
}

// loadSystemd opens the cgroup of a "slice:prefix:name" path for cleaning
// up. It needs no systemd: without one there is no unit, and the files are
// all there is to remove.
func loadSystemd(h systemdHost, path string) (Manager, error) {
	u, err := parseSystemdPath(path)
	if err != nil {
		return nil, err
	}
	m, err := h.loadFS(u.dir)
	if err != nil {
		return nil, err
	}
	return &systemdCgroup{Manager: m, path: path, unit: u, host: h}, nil
}

func (c *systemdCgroup) Path() string { return c.path }

// ProcsFiles adds, on a hybrid host, the unit's cgroup in the unified
// hierarchy where systemd tracks it, once systemd has made it (a scope's
// when it started): a process joining later must be found there too.
func (c *systemdCgroup) ProcsFiles() []string {
	files := c.Manager.ProcsFiles()
	if f := c.unifiedProcs(); f != "" {
		files = append(files, f)
	}
	return files
}

func (c *systemdCgroup) unifiedProcs() string {
	if c.host.unified == "" {
		return ""
	}
	f := filepath.Join(c.host.unified, c.unit.dir, "cgroup.procs")
	if _, err := os.Stat(f); err != nil {
		return ""
	}
	return f
}

func (c *systemdCgroup) Add(pid int) error {
	if err := c.Manager.Add(pid); err != nil {
		return err
	}
	if f := c.unifiedProcs(); f != "" {
		if err := writeFile(filepath.Dir(f), "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("add %d to %s: %w", pid, f, err)
		}
	}
	return nil
}

// Attach starts a scope unit with pid, the container's first process,
// which has joined the cgroup's directories already: systemd starts a
// scope only with a process in it. It does nothing for a slice unit,
// started by New.
func (c *systemdCgroup) Attach(pid int) error {
	if c.unit.isSlice() {
		return nil
	}
	if pid <= 0 {
		return fmt.Errorf("pid %d: %w", pid, errdefs.ErrInvalidArgument)
	}
	ctx := context.Background()
	conn, err := c.host.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	devices, err := c.host.procDevices()
	if err != nil {
		return fmt.Errorf("read /proc/devices: %w", err)
	}
	resProps, _, err := resourceProperties(c.host.v2, systemdVersion(ctx, conn), c.res, devices)
	if err != nil {
		return err
	}
	return c.startUnit(ctx, conn, unitProperties(c.unit, c.host.v2, pid, resProps))
}

// Update gives systemd the new limits first, as runc does, then writes them
// all to the files.
func (c *systemdCgroup) Update(res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	ctx := context.Background()
	conn, err := c.host.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	devices, err := c.host.procDevices()
	if err != nil {
		return fmt.Errorf("read /proc/devices: %w", err)
	}
	props, fileRes, err := resourceProperties(c.host.v2, systemdVersion(ctx, conn), res, devices)
	if err != nil {
		return err
	}
	if len(props) > 0 {
		thaw := c.freezeForDevices(res)
		err := conn.SetUnitPropertiesContext(ctx, c.unit.unit, true, props...)
		thaw()
		if err != nil {
			return fmt.Errorf("systemd unit %s: set properties: %w", c.unit.unit, dbusError(err))
		}
	}
	return c.Manager.Update(fileRes)
}

// freezeForDevices freezes a running v1 cgroup while systemd applies new
// device rules, and returns what thaws it: systemd writes them as
// "devices.deny a" and then each allowed device, and a process opening
// /dev/null in between would fail (runc freezes likewise). v2 needs none:
// systemd swaps its device program in one step. A cgroup that cannot be
// frozen is updated anyway, as runc does.
func (c *systemdCgroup) freezeForDevices(res *specs.LinuxResources) (thaw func()) {
	nothing := func() {}
	v, ok := c.Manager.(*v1)
	if c.host.v2 || !ok || len(res.Devices) == 0 {
		return nothing
	}
	dir := v.dir(cgroup1.Freezer)
	if state, err := readFile(dir, "freezer.state"); err != nil || state != "THAWED" {
		// Frozen already (paused), or no freezer.
		return nothing
	}
	if err := v.Freeze(); err != nil {
		_ = v.Thaw()
		return nothing
	}
	return func() { _ = v.Thaw() }
}

// Delete stops the unit, once the cgroup is empty (systemd would kill what
// is left), and removes what systemd leaves of the directories: it knows
// nothing of hierarchies it does not manage.
func (c *systemdCgroup) Delete() error {
	pids, err := c.Pids()
	if err != nil {
		return err
	}
	if len(pids) > 0 {
		return fmt.Errorf("cgroup %s has processes %v: %w", c.path, pids, errdefs.ErrFailedPrecondition)
	}
	// Without systemd there is no unit to stop: only files, from a
	// create that failed or a systemd that has gone.
	if c.host.running() == nil {
		ctx := context.Background()
		conn, err := c.host.dial(ctx)
		if err != nil {
			return notRunning(fmt.Errorf("connect to its D-Bus API: %w", err))
		}
		err = c.stopUnit(ctx, conn)
		conn.Close()
		if err != nil {
			return err
		}
	}
	if err := c.Manager.Delete(); err != nil {
		return err
	}
	// systemd removes the unified directory of a hybrid host when the
	// unit stops; one it left, or made before it went away, goes too.
	if c.host.unified != "" {
		if err := os.Remove(filepath.Join(c.host.unified, c.unit.dir)); err != nil && !notExist(err) {
			return fmt.Errorf("remove %s: %w", filepath.Join(c.host.unified, c.unit.dir), err)
		}
	}
	return nil
}

// killCgroup uses the cgroupfs manager's one-step kill, if it has one.
func (c *systemdCgroup) killCgroup() error {
	if k, ok := c.Manager.(cgroupKiller); ok {
		return k.killCgroup()
	}
	return fmt.Errorf("cgroup %s: no one-step kill: %w", c.path, errdefs.ErrNotImplemented)
}

// startUnit starts the unit and waits for systemd's job to end. A unit of
// that name left failed by an earlier container is reset and the start
// tried once more.
func (c *systemdCgroup) startUnit(ctx context.Context, conn *sddbus.Conn, props []sddbus.Property) error {
	name := c.unit.unit
	// Buffered: go-systemd sends the job's result once, also after a
	// timeout here, and must not block its signal loop on it.
	ch := make(chan string, 1)
	_, err := conn.StartTransientUnitContext(ctx, name, "replace", props, ch)
	if err != nil && isDBusError(err, "org.freedesktop.systemd1.UnitExists") {
		_ = conn.ResetFailedUnitContext(ctx, name)
		_, err = conn.StartTransientUnitContext(ctx, name, "replace", props, ch)
	}
	if err != nil {
		return fmt.Errorf("systemd unit %s: start: %w", name, dbusError(err))
	}
	if res, err := c.waitJob(ch); err != nil || res != "done" {
		_ = conn.ResetFailedUnitContext(ctx, name)
		if err == nil {
			err = fmt.Errorf("job %s", res)
		}
		return fmt.Errorf("systemd unit %s: start: %w: %w", name, err, errdefs.ErrUnavailable)
	}
	return nil
}

// stopUnit stops the unit; nil if systemd has none of that name.
func (c *systemdCgroup) stopUnit(ctx context.Context, conn *sddbus.Conn) error {
	name := c.unit.unit
	ch := make(chan string, 1)
	if _, err := conn.StopUnitContext(ctx, name, "replace", ch); err != nil {
		if isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit") {
			return nil
		}
		return fmt.Errorf("systemd unit %s: stop: %w", name, dbusError(err))
	}
	res, err := c.waitJob(ch)
	// A unit that failed stays listed until it is reset.
	_ = conn.ResetFailedUnitContext(ctx, name)
	if err != nil {
		return fmt.Errorf("systemd unit %s: stop: %w: %w", name, err, errdefs.ErrUnavailable)
	}
	if res != "done" {
		return fmt.Errorf("systemd unit %s: stop: job %s: %w", name, res, errdefs.ErrUnavailable)
	}
	return nil
}

func (c *systemdCgroup) waitJob(ch <-chan string) (string, error) {
	t := time.NewTimer(c.host.timeout)
	defer t.Stop()
	select {
	case res := <-ch:
		return res, nil
	case <-t.C:
		return "", fmt.Errorf("no answer from systemd in %s", c.host.timeout)
	}
}

func isDBusError(err error, name string) bool {
	var de godbus.Error
	return errors.As(err, &de) && de.Name == name
}

// dbusError gives a systemd error its errdefs kind: systemd refusing a
// property or a name is bad input, a missing unit is not found.
func dbusError(err error) error {
	var de godbus.Error
	if !errors.As(err, &de) {
		return fmt.Errorf("%w: %w", err, errdefs.ErrUnavailable)
	}
	switch de.Name {
	case "org.freedesktop.DBus.Error.InvalidArgs", "org.freedesktop.DBus.Error.PropertyReadOnly":
		return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	case "org.freedesktop.systemd1.NoSuchUnit":
		return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
	case "org.freedesktop.systemd1.UnitExists":
		return fmt.Errorf("%w: %w", err, errdefs.ErrAlreadyExists)
	}
	return fmt.Errorf("%w: %w", err, errdefs.ErrUnknown)
}
