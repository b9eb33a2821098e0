package cgroups

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type v1 struct {
	path string
	cg   cgroup1.Cgroup
}

// pather is what every cgroup1 subsystem with a directory implements.
type pather interface {
	Path(path string) string
}

func newV1(path string, res *specs.LinuxResources) (Manager, error) {
	cg, err := cgroup1.New(cgroup1.StaticPath(path), res)
	if err != nil {
		return nil, fmt.Errorf("create v1 cgroup %s: %w", path, err)
	}
	return &v1{path: path, cg: cg}, nil
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

func (c *v1) Path() string { return c.path }

func (c *v1) ProcsFiles() []string {
	var files []string
	for _, s := range c.cg.Subsystems() {
		if p, ok := s.(pather); ok {
			files = append(files, filepath.Join(p.Path(c.path), "cgroup.procs"))
		}
	}
	sort.Strings(files)
	// cpu and cpuacct, or net_cls and net_prio, may share one hierarchy.
	out := files[:0]
	for i, f := range files {
		if i == 0 || f != files[i-1] {
			out = append(out, f)
		}
	}
	return out
}

func (c *v1) Add(pid int) error {
	if err := c.cg.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("add %d to cgroup %s: %w", pid, c.path, err)
	}
	return nil
}

func (c *v1) Pids() ([]int, error) {
	// Every process is in every hierarchy; pids is the one with no
	// per-thread surprises and is always mounted where containers run.
	subsystem := cgroup1.Pids
	if !c.has(subsystem) {
		subsystem = cgroup1.Freezer
	}
	procs, err := c.cg.Processes(subsystem, true)
	if err != nil {
		if errors.Is(err, cgroup1.ErrCgroupDeleted) || notExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list processes of %s: %w", c.path, err)
	}
	seen := map[int]bool{}
	var pids []int
	for _, p := range procs {
		if !seen[p.Pid] {
			seen[p.Pid] = true
			pids = append(pids, p.Pid)
		}
	}
	return pids, nil
}

func (c *v1) has(n cgroup1.Name) bool {
	for _, s := range c.cg.Subsystems() {
		if s.Name() == n {
			return true
		}
	}
	return false
}

func (c *v1) Update(res *specs.LinuxResources) error {
	if err := c.cg.Update(res); err != nil {
		return fmt.Errorf("update cgroup %s: %w", c.path, err)
	}
	return nil
}

func (c *v1) Freeze() error {
	if !c.has(cgroup1.Freezer) {
		return fmt.Errorf("no freezer hierarchy: %w", errdefs.ErrNotImplemented)
	}
	return c.cg.Freeze()
}

func (c *v1) Thaw() error {
	if !c.has(cgroup1.Freezer) {
		return fmt.Errorf("no freezer hierarchy: %w", errdefs.ErrNotImplemented)
	}
	return c.cg.Thaw()
}

func (c *v1) Delete() error {
	if err := c.cg.Delete(); err != nil {
		if errors.Is(err, cgroup1.ErrCgroupDeleted) || notExist(err) {
			return nil
		}
		pids, _ := c.Pids()
		if len(pids) > 0 {
			return fmt.Errorf("cgroup %s still has processes %v: %w", c.path, pids, errdefs.ErrFailedPrecondition)
		}
		return fmt.Errorf("remove cgroup %s: %w", c.path, err)
	}
	return nil
}
