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

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
)

// v1 is a cgroup on the legacy or hybrid hierarchies.
type v1 struct {
	path string
	cg   cgroup1.Cgroup
}

// newV1 takes the subsystems so that tests can point them at a fake
// cgroupfs: directory trees whose control files the test creates.
func newV1(subs []cgroup1.Subsystem, path string, res *specs.LinuxResources) (Manager, error) {
	if err := checkV1(subs, res); err != nil {
		return nil, err
	}
	// Refuse bad values before anything is created.
	if err := validateV1(res); err != nil {
		return nil, err
	}
	var created []string
	for _, s := range subs {
		if p, ok := s.(pather); ok {
			created = append(created, missingDirs(p.Path(path))...)
		}
	}
	// The library creates the directories, filling cpuset.cpus and
	// cpuset.mems of every new one from its parent, and the limits are
	// then applied as an update would, so that they take the same
	// corrections.
	hierarchy := func() ([]cgroup1.Subsystem, error) { return subs, nil }
	cg, err := cgroup1.New(cgroup1.StaticPath(path), &specs.LinuxResources{}, cgroup1.WithHierarchy(hierarchy))
	if err == nil {
		c := &v1{path: path, cg: cg}
		if err = c.apply(res); err == nil {
			return c, nil
		}
	}
	removeDirs(created)
	return nil, fmt.Errorf("create v1 cgroup %s: %w", path, libError(err))
}

func loadV1(subs []cgroup1.Subsystem, path string) (Manager, error) {
	hierarchy := func() ([]cgroup1.Subsystem, error) { return subs, nil }
	cg, err := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(hierarchy))
	if err != nil {
		if errors.Is(err, cgroup1.ErrCgroupDeleted) || notExist(err) {
			return nil, fmt.Errorf("v1 cgroup %s: %w", path, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("load v1 cgroup %s: %w", path, err)
	}
	return &v1{path: path, cg: cg}, nil
}

// dir is the cgroup's directory in the hierarchy of subsystem n, or "".
func (c *v1) dir(n cgroup1.Name) string {
	for _, s := range c.cg.Subsystems() {
		if p, ok := s.(pather); ok && s.Name() == n {
			return p.Path(c.path)
		}
	}
	return ""
}

func (c *v1) subsystem(n cgroup1.Name) cgroup1.Subsystem {
	for _, s := range c.cg.Subsystems() {
		if s.Name() == n {
			return s
		}
	}
	return nil
}

// exists tells whether the cgroup is still there in every hierarchy.
func (c *v1) exists() bool {
	for _, s := range c.cg.Subsystems() {
		if p, ok := s.(pather); ok {
			if _, err := os.Lstat(p.Path(c.path)); err != nil {
				return false
			}
		}
	}
	return true
}

func (c *v1) Path() string { return c.path }

// ExecProcsFiles is ProcsFiles: a v1 cgroup takes processes whatever its
// children.
func (c *v1) ExecProcsFiles(int) ([]string, error) { return c.ProcsFiles(), nil }

func (c *v1) ProcsFiles() []string {
	// A hierarchy mounted with several controllers (cpu,cpuacct) is
	// reachable under several names; one write per hierarchy is enough.
	seen := map[string]bool{}
	var files []string
	for _, s := range c.cg.Subsystems() {
		p, ok := s.(pather)
		if !ok {
			continue
		}
		dir, err := filepath.EvalSymlinks(p.Path(c.path))
		if err != nil || seen[dir] {
			continue
		}
		seen[dir] = true
		files = append(files, filepath.Join(dir, "cgroup.procs"))
	}
	sort.Strings(files)
	return files
}

func (c *v1) Add(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("pid %d: %w", pid, errdefs.ErrInvalidArgument)
	}
	if err := c.cg.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("add %d to cgroup %s: %w", pid, c.path, libError(deleted(err)))
	}
	return nil
}

// deleted turns the library's ErrCgroupDeleted into ErrNotFound.
func deleted(err error) error {
	if errors.Is(err, cgroup1.ErrCgroupDeleted) {
		return fmt.Errorf("%w: %w", errdefs.ErrNotFound, err)
	}
	return err
}

// Pids unites all hierarchies: a process moved out of one of them by
// someone else must still be found and killed.
func (c *v1) Pids() ([]int, error) {
	seen := map[int]bool{}
	var pids []int
	for _, s := range c.cg.Subsystems() {
		if _, ok := s.(pather); !ok {
			continue
		}
		procs, err := c.cg.Processes(s.Name(), true)
		if err != nil {
			if errors.Is(err, cgroup1.ErrCgroupDeleted) || notExist(err) {
				continue
			}
			return nil, fmt.Errorf("list processes of %s: %w", c.path, err)
		}
		for _, p := range procs {
			if !seen[p.Pid] {
				seen[p.Pid] = true
				pids = append(pids, p.Pid)
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
	if err := checkV1(c.cg.Subsystems(), res); err != nil {
		return err
	}
	if err := validateV1(res); err != nil {
		return err
	}
	// The library's Update recreates a removed cgroup's directories
	// (its controllers' Create, which Update calls, runs MkdirAll).
	// Report upstream.
	if !c.exists() {
		return fmt.Errorf("cgroup %s: %w", c.path, errdefs.ErrNotFound)
	}
	if m := res.Memory; m != nil && m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate && m.Limit != nil && *m.Limit > 0 {
		if err := checkUsage(c.dir(cgroup1.Memory), "memory.usage_in_bytes", *m.Limit); err != nil {
			return err
		}
	}
	if err := c.apply(res); err != nil {
		return fmt.Errorf("update cgroup %s: %w", c.path, libError(deleted(err)))
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

// Freeze and Thaw drive freezer.state here: the library's loop retries
// forever while the cgroup stays FREEZING (and a thaw forever while a
// parent is frozen), and KillAll must not hang on one stuck task.
// Report upstream: cgroup1 Freeze and Thaw need a bound or a context.
func (c *v1) Freeze() error { return c.setState("FROZEN") }
func (c *v1) Thaw() error   { return c.setState("THAWED") }

func (c *v1) setState(want string) error {
	dir := c.dir(cgroup1.Freezer)
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
	// Checked for all hierarchies first: the library would remove the
	// cgroup from the hierarchies where it happens to be empty and leave
	// it half deleted.
	if len(pids) > 0 {
		return fmt.Errorf("cgroup %s still has processes %v: %w", c.path, pids, errdefs.ErrFailedPrecondition)
	}
	if err := c.cg.Delete(); err != nil && !errors.Is(err, cgroup1.ErrCgroupDeleted) {
		return fmt.Errorf("remove cgroup %s: %w", c.path, err)
	}
	// The library names a hierarchy it could not clean only by name;
	// make sure nothing is left.
	for _, s := range c.cg.Subsystems() {
		if p, ok := s.(pather); ok {
			if _, err := os.Lstat(p.Path(c.path)); err == nil {
				return fmt.Errorf("cgroup %s still exists in %s", c.path, s.Name())
			}
		}
	}
	return nil
}

// Stats ignores missing files as containerd's runc shim does: a kernel
// without swap accounting has no memsw files, for one.
func (c *v1) Stats() (proto.Message, error) {
	m, err := c.cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return nil, fmt.Errorf("stats of cgroup %s: %w", c.path, deleted(err))
	}
	return m, nil
}
