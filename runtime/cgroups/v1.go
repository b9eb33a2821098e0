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
)

// v1 is a cgroup on the legacy or hybrid hierarchies.
type v1 struct {
	path string
	cg   cgroup1.Cgroup
}

// pather is what every cgroup1 subsystem with a directory implements.
type pather interface {
	Path(path string) string
}

func newV1(path string, res *specs.LinuxResources) (Manager, error) {
	subs, err := cgroup1.Default()
	if err != nil {
		return nil, fmt.Errorf("find v1 hierarchies: %w", err)
	}
	if err := checkV1(subs, res); err != nil {
		return nil, err
	}
	var created []string
	for _, s := range subs {
		if p, ok := s.(pather); ok {
			created = append(created, missingDirs(p.Path(path))...)
		}
	}
	hierarchy := func() ([]cgroup1.Subsystem, error) { return subs, nil }
	cg, err := cgroup1.New(cgroup1.StaticPath(path), res, cgroup1.WithHierarchy(hierarchy))
	if err != nil {
		removeDirs(created)
		return nil, fmt.Errorf("create v1 cgroup %s: %w", path, libError(err))
	}
	c := &v1{path: path, cg: cg}
	if err := c.applyExtra(res); err != nil {
		removeDirs(created)
		return nil, fmt.Errorf("create v1 cgroup %s: %w", path, err)
	}
	return c, nil
}

func loadV1(path string) (Manager, error) {
	cg, err := cgroup1.Load(cgroup1.StaticPath(path))
	if err != nil {
		if errors.Is(err, cgroup1.ErrCgroupDeleted) || notExist(err) {
			return nil, fmt.Errorf("v1 cgroup %s: %w", path, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("load v1 cgroup %s: %w", path, err)
	}
	return &v1{path: path, cg: cg}, nil
}

// libError marks a missing control file, which is how the library reports a
// setting this kernel does not have, as ErrNotImplemented.
func libError(err error) error {
	if notExist(err) {
		return fmt.Errorf("%w: %w", errdefs.ErrNotImplemented, err)
	}
	return err
}

// checkV1 refuses settings whose hierarchy is not mounted: the library
// would skip them silently, and a limit that is silently absent is worse
// than a container that does not start.
func checkV1(subs []cgroup1.Subsystem, res *specs.LinuxResources) error {
	have := map[cgroup1.Name]bool{}
	for _, s := range subs {
		have[s.Name()] = true
	}
	need := func(n cgroup1.Name, what string) error {
		if !have[n] {
			return notImplemented(fmt.Sprintf("%s needs the v1 %s hierarchy, which is not mounted", what, n))
		}
		return nil
	}
	var errs []error
	if len(res.Devices) > 0 {
		errs = append(errs, need(cgroup1.Devices, "device rules"))
	}
	if res.Memory != nil {
		errs = append(errs, need(cgroup1.Memory, "memory settings"))
	}
	if c := res.CPU; c != nil {
		if c.Shares != nil || c.Quota != nil || c.Period != nil || c.Burst != nil ||
			c.RealtimeRuntime != nil || c.RealtimePeriod != nil || c.Idle != nil {
			errs = append(errs, need(cgroup1.Cpu, "cpu settings"))
		}
		if c.Cpus != "" || c.Mems != "" {
			errs = append(errs, need(cgroup1.Cpuset, "cpuset settings"))
		}
	}
	if res.Pids != nil && res.Pids.Limit != nil {
		errs = append(errs, need(cgroup1.Pids, "pids limit"))
	}
	if res.BlockIO != nil {
		errs = append(errs, need(cgroup1.Blkio, "block IO settings"))
	}
	if len(res.HugepageLimits) > 0 {
		errs = append(errs, need(cgroup1.Hugetlb, "hugepage limits"))
	}
	if n := res.Network; n != nil {
		if n.ClassID != nil {
			errs = append(errs, need(cgroup1.NetCLS, "network class id"))
		}
		if len(n.Priorities) > 0 {
			errs = append(errs, need(cgroup1.NetPrio, "network priorities"))
		}
	}
	if len(res.Rdma) > 0 {
		errs = append(errs, need(cgroup1.Rdma, "rdma limits"))
	}
	if len(res.Unified) > 0 {
		errs = append(errs, notImplemented("unified (cgroup v2) settings on a cgroup v1 host"))
	}
	return errors.Join(errs...)
}

// applyExtra writes what the library leaves out: it never writes a pids
// limit of "no limit" (so an Update cannot lift one), and it knows neither
// cpu burst, cpu idle nor memory.use_hierarchy.
func (c *v1) applyExtra(res *specs.LinuxResources) error {
	if p := res.Pids; p != nil && p.Limit != nil && *p.Limit <= 0 {
		if err := writeFile(c.dir(cgroup1.Pids), "pids.max", "max"); err != nil {
			return err
		}
	}
	if cpu := res.CPU; cpu != nil {
		if cpu.Burst != nil {
			if err := writeFile(c.dir(cgroup1.Cpu), "cpu.cfs_burst_us", strconv.FormatUint(*cpu.Burst, 10)); err != nil {
				return err
			}
		}
		if cpu.Idle != nil {
			if err := writeFile(c.dir(cgroup1.Cpu), "cpu.idle", strconv.FormatInt(*cpu.Idle, 10)); err != nil {
				return err
			}
		}
	}
	if m := res.Memory; m != nil && m.UseHierarchy != nil {
		v := "0"
		if *m.UseHierarchy {
			v = "1"
		}
		if err := writeFile(c.dir(cgroup1.Memory), "memory.use_hierarchy", v); err != nil {
			return err
		}
	}
	return nil
}

// dir is the cgroup's directory in the hierarchy of subsystem n.
func (c *v1) dir(n cgroup1.Name) string {
	for _, s := range c.cg.Subsystems() {
		if s.Name() == n {
			if p, ok := s.(pather); ok {
				return p.Path(c.path)
			}
		}
	}
	return ""
}

func (c *v1) Path() string { return c.path }

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
		return fmt.Errorf("add %d to cgroup %s: %w", pid, c.path, err)
	}
	return nil
}

// Pids unites all hierarchies: a process moved out of one of them by
// someone else must still be found and killed.
func (c *v1) Pids() ([]int, error) {
	seen := map[int]bool{}
	var pids []int
	for _, s := range c.cg.Subsystems() {
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
	if m := res.Memory; m != nil && m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate && m.Limit != nil && *m.Limit > 0 {
		if err := checkUsage(c.dir(cgroup1.Memory), "memory.usage_in_bytes", *m.Limit); err != nil {
			return err
		}
	}
	if err := c.cg.Update(res); err != nil {
		if errors.Is(err, cgroup1.ErrCgroupDeleted) {
			return fmt.Errorf("cgroup %s: %w", c.path, errdefs.ErrNotFound)
		}
		return fmt.Errorf("update cgroup %s: %w", c.path, libError(err))
	}
	if err := c.applyExtra(res); err != nil {
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

// Freeze drives freezer.state itself: the library retries forever while
// the cgroup stays FREEZING, and KillAll must not hang on one stuck task.
func (c *v1) Freeze() error {
	dir := c.dir(cgroup1.Freezer)
	if dir == "" {
		return notImplemented("no v1 freezer hierarchy")
	}
	deadline := time.Now().Add(freezeTimeout)
	for {
		// Each write of FROZEN makes the kernel retry tasks that
		// could not be frozen yet.
		if err := writeFile(dir, "freezer.state", "FROZEN"); err != nil {
			return err
		}
		state, err := readFile(dir, "freezer.state")
		if err != nil {
			return err
		}
		if strings.EqualFold(state, "FROZEN") {
			return nil
		}
		if time.Now().After(deadline) {
			_ = writeFile(dir, "freezer.state", "THAWED")
			return fmt.Errorf("cgroup %s still %s after %s: %w", c.path, state, freezeTimeout, context.DeadlineExceeded)
		}
		time.Sleep(pollInterval)
	}
}

func (c *v1) Thaw() error {
	dir := c.dir(cgroup1.Freezer)
	if dir == "" {
		return notImplemented("no v1 freezer hierarchy")
	}
	deadline := time.Now().Add(freezeTimeout)
	for {
		if err := writeFile(dir, "freezer.state", "THAWED"); err != nil {
			return err
		}
		state, err := readFile(dir, "freezer.state")
		if err != nil {
			return err
		}
		if strings.EqualFold(state, "THAWED") {
			return nil
		}
		if time.Now().After(deadline) {
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
	// Checked first because the library would remove the hierarchies that
	// happen to be empty and leave the cgroup half deleted.
	if len(pids) > 0 {
		return fmt.Errorf("cgroup %s still has processes %v: %w", c.path, pids, errdefs.ErrFailedPrecondition)
	}
	if err := c.cg.Delete(); err != nil {
		if errors.Is(err, cgroup1.ErrCgroupDeleted) || notExist(err) {
			return nil
		}
		return fmt.Errorf("remove cgroup %s: %w", c.path, err)
	}
	// The library ignores hierarchies where the directory vanished but
	// reports a failed rmdir only by name; make sure nothing is left.
	for _, s := range c.cg.Subsystems() {
		if p, ok := s.(pather); ok {
			if _, err := os.Lstat(p.Path(c.path)); err == nil {
				return fmt.Errorf("cgroup %s still exists in %s", c.path, s.Name())
			}
		}
	}
	return nil
}
