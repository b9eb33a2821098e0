package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1 is a cgroup on the legacy or hybrid hierarchies.
type v1 struct {
	path string
	// hs are the hierarchies the cgroup was created or found in.
	hs []hierarchy
}

// newV1 takes the hierarchies so that tests can point them at a fake
// cgroupfs: directory trees whose control files the test creates.
func newV1(hs []hierarchy, path string, res *specs.LinuxResources) (Manager, error) {
	if err := checkV1(hs, res); err != nil {
		return nil, err
	}
	c := &v1{path: path, hs: hs}
	// Convert once before creating anything so that invalid values are
	// refused without touching the hierarchies.
	if _, err := v1Writes(c.dir, res); err != nil {
		return nil, err
	}
	var created []string
	for _, h := range hs {
		d := filepath.Join(h.mountpoint, path)
		created = append(created, missingDirs(d)...)
		if err := os.MkdirAll(d, 0o755); err != nil {
			removeDirs(created)
			return nil, fmt.Errorf("create v1 cgroup %s: %w", path, err)
		}
	}
	err := c.inheritCpuset()
	if err == nil {
		err = c.apply(res)
	}
	if err != nil {
		removeDirs(created)
		return nil, fmt.Errorf("create v1 cgroup %s: %w", path, err)
	}
	return c, nil
}

func loadV1(hs []hierarchy, path string) (Manager, error) {
	c := &v1{path: path}
	for _, h := range hs {
		if _, err := os.Lstat(filepath.Join(h.mountpoint, path)); err == nil {
			c.hs = append(c.hs, h)
		}
	}
	if len(c.hs) == 0 {
		return nil, fmt.Errorf("v1 cgroup %s: %w", path, errdefs.ErrNotFound)
	}
	return c, nil
}

// dir is the cgroup's directory in the hierarchy of controller ctl, or ""
// if it has none.
func (c *v1) dir(ctl string) string {
	for _, h := range c.hs {
		if h.has(ctl) {
			return filepath.Join(h.mountpoint, c.path)
		}
	}
	return ""
}

func (c *v1) inheritCpuset() error {
	for _, h := range c.hs {
		if h.has("cpuset") {
			return inheritCpuset(h.mountpoint, filepath.Join(h.mountpoint, c.path))
		}
	}
	return nil
}

func (c *v1) apply(res *specs.LinuxResources) error {
	writes, err := v1Writes(c.dir, res)
	if err != nil {
		return err
	}
	for _, w := range writes {
		if err := writeFile(c.dir(w.ctl), w.file, w.value); err != nil {
			return err
		}
	}
	return nil
}

func (c *v1) Path() string { return c.path }

func (c *v1) ProcsFiles() []string {
	var files []string
	for _, h := range c.hs {
		dir := filepath.Join(h.mountpoint, c.path)
		if _, err := os.Lstat(dir); err == nil {
			files = append(files, filepath.Join(dir, "cgroup.procs"))
		}
	}
	sort.Strings(files)
	return files
}

func (c *v1) Add(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("pid %d: %w", pid, errdefs.ErrInvalidArgument)
	}
	for _, h := range c.hs {
		if err := addProc(filepath.Join(h.mountpoint, c.path), pid); err != nil {
			return fmt.Errorf("add %d to cgroup %s: %w", pid, c.path, err)
		}
	}
	return nil
}

// Pids unites all hierarchies: a process moved out of one of them by
// someone else must still be found and killed.
func (c *v1) Pids() ([]int, error) {
	seen := map[int]bool{}
	var pids []int
	for _, h := range c.hs {
		procs, err := procsUnder(filepath.Join(h.mountpoint, c.path))
		if err != nil {
			if notExist(err) {
				continue
			}
			return nil, fmt.Errorf("list processes of %s: %w", c.path, err)
		}
		for _, p := range procs {
			if !seen[p] {
				seen[p] = true
				pids = append(pids, p)
			}
		}
	}
	sort.Ints(pids)
	return pids, nil
}

func (c *v1) Update(res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	if err := checkV1(c.hs, res); err != nil {
		return err
	}
	if m := res.Memory; m != nil && m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate && m.Limit != nil && *m.Limit > 0 {
		if err := checkUsage(c.dir("memory"), "memory.usage_in_bytes", *m.Limit); err != nil {
			return err
		}
	}
	if err := c.apply(res); err != nil {
		return fmt.Errorf("update cgroup %s: %w", c.path, err)
	}
	return nil
}

// checkUsage implements the spec's checkBeforeUpdate: the kernel would
// accept a limit below current usage and start reclaiming or OOM-killing.
func checkUsage(dir, file string, limit int64) error {
	s, err := readFile(dir, file)
	if err != nil {
		return fmt.Errorf("read memory usage: %w", err)
	}
	usage, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("parse %s %q: %w", file, s, err)
	}
	if uint64(limit) < usage {
		return fmt.Errorf("memory limit %d is below current usage %d: %w", limit, usage, errdefs.ErrFailedPrecondition)
	}
	return nil
}

func (c *v1) Freeze() error { return c.setState("FROZEN") }
func (c *v1) Thaw() error   { return c.setState("THAWED") }

// setState polls freezer.state with a bound: the library retried forever
// while the cgroup stayed FREEZING, and KillAll must not hang on one stuck
// task.
func (c *v1) setState(want string) error {
	dir := c.dir("freezer")
	if dir == "" {
		return notImplemented("no v1 freezer hierarchy")
	}
	deadline := time.Now().Add(freezeTimeout)
	for {
		// Each write of FROZEN makes the kernel retry tasks that
		// could not be frozen yet.
		if err := writeFile(dir, "freezer.state", want); err != nil {
			return err
		}
		state, err := readFile(dir, "freezer.state")
		if err != nil {
			return err
		}
		if strings.EqualFold(state, want) {
			return nil
		}
		if time.Now().After(deadline) {
			if want == "FROZEN" {
				_ = writeFile(dir, "freezer.state", "THAWED")
			}
			return fmt.Errorf("cgroup %s still %s after %s: %w", c.path, state, freezeTimeout, context.DeadlineExceeded)
		}
		time.Sleep(pollInterval)
	}
}

func (c *v1) Delete() error {
	pids, err := c.Pids()
	if err != nil {
		return err
	}
	// Checked for all hierarchies first, so that a cgroup with processes
	// is not left deleted in the hierarchies where it happens to be empty.
	if len(pids) > 0 {
		return fmt.Errorf("cgroup %s still has processes %v: %w", c.path, pids, errdefs.ErrFailedPrecondition)
	}
	var errs []error
	for _, h := range c.hs {
		if err := removeCgroup(filepath.Join(h.mountpoint, c.path)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", c.path, err)
	}
	return nil
}
