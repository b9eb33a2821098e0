package cgroups

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

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

// ExecProcsFiles adds the unified cgroup for the same reason ProcsFiles
// does: systemd tracks the scope's processes there.
func (c *systemdCgroup) ExecProcsFiles(initPid int) ([]string, error) {
	files, err := c.Manager.ExecProcsFiles(initPid)
	if err != nil {
		return nil, err
	}
	if f := c.unifiedProcs(); f != "" {
		files = append(files, f)
	}
	return files, nil
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
