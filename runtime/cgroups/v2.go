package cgroups

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const unifiedMountpoint = "/sys/fs/cgroup"

// v2 is a cgroup on the unified hierarchy. The library's conversion
// (cgroup2.ToResources) is not followed where it is wrong: it writes "-1"
// where the kernel wants "max" (and so cannot lift a memory limit),
// computes swap wrongly for unlimited swap, overflows the io weight it
// converts into 16 bits, and silently drops per-device weights, cpu burst
// and idle, and the spec's unified map. It also created missing control
// files, which turns a kernel without a feature into a write error instead
// of ErrNotImplemented.
type v2 struct {
	mountpoint string
	path       string
	dir        string
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
	if _, err := v2Files(dir, res); err != nil {
		return nil, err
	}
	if _, err := devicesProgram(res.Devices); err != nil {
		return nil, err
	}
	created := missingDirs(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		removeDirs(created)
		return nil, fmt.Errorf("create v2 cgroup %s: %w", path, err)
	}
	c := &v2{mountpoint: mountpoint, path: path, dir: dir}
	if err := c.apply(controllers, res); err != nil {
		removeDirs(created)
		return nil, fmt.Errorf("create v2 cgroup %s: %w", path, err)
	}
	return c, nil
}

func loadV2(mountpoint, path string) (Manager, error) {
	dir := filepath.Join(mountpoint, path)
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		if notExist(err) {
			return nil, fmt.Errorf("v2 cgroup %s: %w", path, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("load v2 cgroup %s: %w", path, err)
	}
	return &v2{mountpoint: mountpoint, path: path, dir: dir}, nil
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
	have := map[string]bool{}
	for _, c := range strings.Fields(s) {
		have[c] = true
	}
	var missing []string
	for _, c := range controllers {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return notImplemented(fmt.Sprintf("cgroup v2 controllers %v are not available at %s", missing, mountpoint))
	}
	return nil
}

// enableControllers turns controllers on in the subtree_control of every
// ancestor, writing only what is missing so that an already set-up parent
// (which may hold processes and then refuse changes) is left alone. The
// library's ToggleControllers writes unconditionally and keeps only the
// last error.
func (c *v2) enableControllers(controllers []string) error {
	var parents []string
	for d := filepath.Dir(c.dir); strings.HasPrefix(d, c.mountpoint); d = filepath.Dir(d) {
		parents = append(parents, d)
		if d == c.mountpoint || d == "/" {
			break
		}
	}
	for i := len(parents) - 1; i >= 0; i-- {
		cur, err := readFile(parents[i], "cgroup.subtree_control")
		if err != nil {
			return fmt.Errorf("read subtree controllers of %s: %w", parents[i], err)
		}
		on := map[string]bool{}
		for _, f := range strings.Fields(cur) {
			on[f] = true
		}
		var add []string
		for _, ctl := range controllers {
			if !on[ctl] {
				add = append(add, "+"+ctl)
			}
		}
		if len(add) == 0 {
			continue
		}
		if err := writeFile(parents[i], "cgroup.subtree_control", strings.Join(add, " ")); err != nil {
			return fmt.Errorf("enable controllers: %w", err)
		}
	}
	return nil
}

func (c *v2) apply(controllers []string, res *specs.LinuxResources) error {
	// Built first so that bad rules are refused before anything changes.
	var prog []bpfInsn
	if len(res.Devices) > 0 {
		var err error
		if prog, err = devicesProgram(res.Devices); err != nil {
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
	files, err := v2Files(c.dir, res)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := writeFile(c.dir, f.name, f.value); err != nil {
			return err
		}
	}
	if prog != nil {
		return c.setDevices(prog)
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

func (c *v2) Add(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("pid %d: %w", pid, errdefs.ErrInvalidArgument)
	}
	if err := addProc(c.dir, pid); err != nil {
		return fmt.Errorf("add %d to cgroup %s: %w", pid, c.path, err)
	}
	return nil
}

func (c *v2) Pids() ([]int, error) {
	pids, err := procsUnder(c.dir)
	if err != nil {
		if notExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list processes of %s: %w", c.path, err)
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
// bound; the kernel reports the state reached in cgroup.events.
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

// killCgroup uses cgroup.kill (Linux 5.14+), which kills every process of
// the subtree atomically, without the freeze-and-signal dance.
func (c *v2) killCgroup() error {
	return writeFile(c.dir, "cgroup.kill", "1")
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
	if err := removeCgroup(c.dir); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", c.path, err)
	}
	return nil
}
