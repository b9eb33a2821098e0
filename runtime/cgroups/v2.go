package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

const unifiedMountpoint = "/sys/fs/cgroup"

// v2 is a cgroup on the unified hierarchy.
type v2 struct {
	mountpoint string
	path       string
	dir        string
	m          *cgroup2.Manager

	// mu guards devices, the device rules the attached filter was built
	// from: an update's rules are appended to them and the filter
	// rebuilt, so that an update adds exceptions as writes to v1's
	// devices.allow and devices.deny do, instead of replacing every rule
	// the container was created with (its /dev/null among them). A
	// loaded cgroup starts with none: Load serves the clean-up of a
	// crashed shim, which updates nothing.
	mu      sync.Mutex
	devices []specs.LinuxDeviceCgroup
}

// newV2 takes the mountpoint so that tests can point it at a fake cgroupfs:
// a directory tree whose control files the test creates beforehand.
func newV2(mountpoint, path string, res *specs.LinuxResources) (Manager, error) {
	if res == nil {
		res = &specs.LinuxResources{}
	}
	controllers, err := v2Controllers(res)
	if err != nil {
		return nil, err
	}
	if err := checkAvailable(mountpoint, controllers); err != nil {
		return nil, err
	}
	dir := filepath.Join(mountpoint, path)
	// Convert once before creating anything so that invalid values are
	// refused without touching the hierarchy.
	if _, _, err := v2Resources(dir, res); err != nil {
		return nil, err
	}
	if _, err := devicesProgram(res.Devices); err != nil {
		return nil, err
	}
	created := missingDirs(dir)
	// The library creates the directory; limits are then applied as an
	// update would, after the controllers are enabled.
	m, err := cgroup2.NewManager(mountpoint, path, &cgroup2.Resources{})
	if err == nil {
		c := &v2{mountpoint: mountpoint, path: path, dir: dir, m: m}
		if err = c.apply(controllers, res); err == nil {
			return c, nil
		}
	}
	removeDirs(created)
	if errors.Is(err, cgroup2.ErrInvalidGroupPath) {
		err = fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err)
	}
	return nil, fmt.Errorf("create v2 cgroup %s: %w", path, libError(err))
}

func loadV2(mountpoint, path string) (Manager, error) {
	dir := filepath.Join(mountpoint, path)
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		if notExist(err) {
			return nil, fmt.Errorf("v2 cgroup %s: %w", path, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("load v2 cgroup %s: %w", path, err)
	}
	m, err := cgroup2.Load(path, cgroup2.WithMountpoint(mountpoint))
	if err != nil {
		return nil, fmt.Errorf("load v2 cgroup %s: %w", path, err)
	}
	return &v2{mountpoint: mountpoint, path: path, dir: dir, m: m}, nil
}

// checkAvailable fails with ErrNotImplemented when the host does not offer
// a controller that res needs, for instance one still bound to v1.
func checkAvailable(mountpoint string, controllers []string) error {
	if len(controllers) == 0 {
		return nil
	}
	s, err := readFile(mountpoint, "cgroup.controllers")
	if err != nil {
		return fmt.Errorf("read available controllers: %w", err)
	}
	have := strings.Fields(s)
	var missing []string
	for _, c := range controllers {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return notImplemented(fmt.Sprintf("cgroup v2 controllers %v are not available at %s", missing, mountpoint))
	}
	return nil
}

// enableControllers has the library enable controllers in every ancestor.
// Its ToggleControllers keeps only the error of the last ancestor, so a
// failure higher up would go unnoticed until a control file is missing:
// the parent is checked afterwards. Report upstream.
func (c *v2) enableControllers(controllers []string) error {
	if len(controllers) == 0 {
		return nil
	}
	err := c.m.ToggleControllers(controllers, cgroup2.Enable)
	parent := filepath.Dir(c.dir)
	on, rerr := readFile(parent, "cgroup.subtree_control")
	if rerr != nil {
		return fmt.Errorf("read subtree controllers of %s: %w", parent, rerr)
	}
	for _, ctl := range controllers {
		if !slices.Contains(strings.Fields(on), "+"+ctl) && !slices.Contains(strings.Fields(on), ctl) {
			return fmt.Errorf("enable controller %s for %s: %w", ctl, c.path, errors.Join(err, errdefs.ErrFailedPrecondition))
		}
	}
	return nil
}

func (c *v2) apply(controllers []string, res *specs.LinuxResources) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Built first so that bad rules are refused before anything changes.
	var prog []bpfInsn
	devices := append(slices.Clip(c.devices), res.Devices...)
	if len(res.Devices) > 0 {
		var err error
		if prog, err = devicesProgram(devices); err != nil {
			return err
		}
	}
	if err := c.enableControllers(controllers); err != nil {
		return err
	}
	if m := res.Memory; m != nil && m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate && m.Limit != nil && *m.Limit > 0 {
		if err := checkUsage(c.dir, "memory.current", *m.Limit); err != nil {
			return err
		}
	}
	lib, extra, err := v2Resources(c.dir, res)
	if err != nil {
		return err
	}
	if err := c.m.Update(lib); err != nil {
		return libError(err)
	}
	for _, f := range extra {
		if err := writeFile(c.dir, f.name, f.value); err != nil {
			return err
		}
	}
	if prog != nil {
		if err := c.setDevices(prog); err != nil {
			return err
		}
		c.devices = devices
	}
	return nil
}

// setDevices makes prog the cgroup's eBPF device filter.
func (c *v2) setDevices(prog []bpfInsn) error {
	fd, err := unix.Open(c.dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", c.dir, err)
	}
	defer unix.Close(fd)
	if err := attachDeviceFilter(fd, prog); err != nil {
		return fmt.Errorf("device filter of %s: %w", c.dir, err)
	}
	return nil
}

func devicesProgram(devices []specs.LinuxDeviceCgroup) ([]bpfInsn, error) {
	rules, err := deviceRules(devices)
	if err != nil {
		return nil, err
	}
	return deviceProgram(rules), nil
}

func (c *v2) Path() string { return c.path }

func (c *v2) ProcsFiles() []string {
	return []string{filepath.Join(c.dir, "cgroup.procs")}
}

// ExecProcsFiles is ProcsFiles unless the container's cgroup has
// controllers enabled for its children: then the kernel refuses it any
// process (v2's no-internal-process rule; EBUSY). A container that made
// child cgroups of its own and enabled controllers in them (systemd as
// init does) could then not be exec'd into; as runc does, the exec joins
// init's cgroup instead, provided it is inside the container's.
func (c *v2) ExecProcsFiles(initPid int) ([]string, error) {
	on, err := readFile(c.dir, "cgroup.subtree_control")
	if err != nil {
		if notExist(err) {
			return nil, fmt.Errorf("cgroup %s: %w", c.path, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("read subtree controllers of %s: %w", c.path, err)
	}
	if on == "" {
		return c.ProcsFiles(), nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", initPid))
	if err != nil {
		return nil, fmt.Errorf("cgroup of init %d: %w", initPid, err)
	}
	rel, ok := "", false
	for _, line := range strings.Split(string(b), "\n") {
		if rel, ok = strings.CutPrefix(line, "0::"); ok {
			break
		}
	}
	// The path is relative to our cgroup namespace's root, as the
	// hierarchy mounted at c.mountpoint shows it.
	dir := filepath.Join(c.mountpoint, rel)
	if !ok || !strings.HasPrefix(dir, c.dir+"/") {
		return nil, fmt.Errorf("cgroup %s has controllers (%s) enabled for its children and init %d is not in one of them (%q): %w",
			c.path, on, initPid, rel, errdefs.ErrFailedPrecondition)
	}
	return []string{filepath.Join(dir, "cgroup.procs")}, nil
}

func (c *v2) Add(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("pid %d: %w", pid, errdefs.ErrInvalidArgument)
	}
	if err := retryEINVAL(func() error { return c.m.AddProc(uint64(pid)) }); err != nil {
		return fmt.Errorf("add %d to cgroup %s: %w", pid, c.path, libError(err))
	}
	return nil
}

func (c *v2) Pids() ([]int, error) {
	procs, err := c.m.Procs(true)
	if err != nil {
		if notExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list processes of %s: %w", c.path, err)
	}
	pids := make([]int, 0, len(procs))
	for _, p := range procs {
		pids = append(pids, int(p))
	}
	sort.Ints(pids)
	return pids, nil
}

func (c *v2) Update(res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	controllers, err := v2Controllers(res)
	if err != nil {
		return err
	}
	if err := checkAvailable(c.mountpoint, controllers); err != nil {
		return err
	}
	if err := c.apply(controllers, res); err != nil {
		return fmt.Errorf("update cgroup %s: %w", c.path, err)
	}
	return nil
}

// Freeze and Thaw are written here because the library reads back
// cgroup.freeze, which only echoes the request, and then polls without a
// bound; the kernel reports the state reached in cgroup.events. Report
// upstream.
func (c *v2) Freeze() error { return c.setFrozen(true) }
func (c *v2) Thaw() error   { return c.setFrozen(false) }

func (c *v2) setFrozen(frozen bool) error {
	want := "0"
	if frozen {
		want = "1"
	}
	if err := writeFile(c.dir, "cgroup.freeze", want); err != nil {
		return err
	}
	deadline := time.Now().Add(freezeTimeout)
	for {
		events, err := readFile(c.dir, "cgroup.events")
		if err != nil {
			return fmt.Errorf("read state of %s: %w", c.path, err)
		}
		if eventValue(events, "frozen") == want {
			return nil
		}
		if time.Now().After(deadline) {
			if frozen {
				_ = writeFile(c.dir, "cgroup.freeze", "0")
			}
			return fmt.Errorf("cgroup %s not frozen=%s after %s: %w", c.path, want, freezeTimeout, context.DeadlineExceeded)
		}
		time.Sleep(pollInterval)
	}
}

func eventValue(events, key string) string {
	for _, line := range strings.Split(events, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// killCgroup has the library write cgroup.kill (Linux 5.14+), which kills
// every process of the subtree atomically, without the freeze-and-signal
// dance. Without the file KillAll does that dance itself: the library's
// fallback would freeze without a bound.
func (c *v2) killCgroup() error {
	if _, err := os.Stat(filepath.Join(c.dir, "cgroup.kill")); err != nil {
		return notImplemented("cgroup.kill")
	}
	return c.m.Kill()
}

func (c *v2) Delete() error {
	if _, err := os.Stat(c.dir); notExist(err) {
		return nil
	}
	pids, err := c.Pids()
	if err != nil {
		return err
	}
	if len(pids) > 0 {
		return fmt.Errorf("cgroup %s still has processes %v: %w", c.path, pids, errdefs.ErrFailedPrecondition)
	}
	if err := c.m.Delete(); err != nil && !notExist(err) {
		return fmt.Errorf("remove cgroup %s: %w", c.path, err)
	}
	return nil
}

func (c *v2) Stats() (proto.Message, error) {
	if _, err := os.Stat(c.dir); notExist(err) {
		return nil, fmt.Errorf("stats of cgroup %s: %w", c.path, errdefs.ErrNotFound)
	}
	m, err := c.m.Stat()
	if err != nil {
		return nil, fmt.Errorf("stats of cgroup %s: %w", c.path, err)
	}
	if err := c.countTasks(m); err != nil {
		return nil, err
	}
	return m, nil
}

// countTasks fills in pids.current when the cgroup has no pids controller
// (a hybrid host's cgroup2, or one where it is not enabled): the library
// reads the missing file as 0, and a container would then report no
// processes. The kernel's pids.current counts tasks (threads) of the whole
// subtree, so the threads are counted in every cgroup.threads below. The
// limit stays 0, as the library reports a missing pids.max. Report
// upstream.
func (c *v2) countTasks(m *stats.Metrics) error {
	if m.Pids == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(c.dir, "pids.current")); !notExist(err) {
		return nil
	}
	// A child cgroup removed during the walk fails it: walk again.
	var err error
	for range 3 {
		var tids []uint64
		if tids, err = c.m.Threads(true); err == nil {
			m.Pids.Current = uint64(len(tids))
			return nil
		}
		if _, serr := os.Stat(c.dir); notExist(serr) {
			return fmt.Errorf("stats of cgroup %s: %w", c.path, errdefs.ErrNotFound)
		}
	}
	return fmt.Errorf("count tasks of cgroup %s: %w", c.path, err)
}
