package cgroups

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const unifiedMountpoint = "/sys/fs/cgroup"

type v2 struct {
	mountpoint string
	path       string
	m          *cgroup2.Manager
}

// newV2 takes the mountpoint so that tests can point it at a fake cgroupfs.
func newV2(mountpoint, path string, res *specs.LinuxResources) (Manager, error) {
	m, err := cgroup2.NewManager(mountpoint, path, toV2(res))
	if err != nil {
		return nil, fmt.Errorf("create v2 cgroup %s: %w", path, err)
	}
	return &v2{mountpoint: mountpoint, path: path, m: m}, nil
}

func loadV2(mountpoint, path string) (Manager, error) {
	if _, err := os.Stat(filepath.Join(mountpoint, path)); err != nil {
		if notExist(err) {
			return nil, fmt.Errorf("v2 cgroup %s: %w", path, errdefs.ErrNotFound)
		}
		return nil, err
	}
	m, err := cgroup2.Load(path, cgroup2.WithMountpoint(mountpoint))
	if err != nil {
		return nil, fmt.Errorf("load v2 cgroup %s: %w", path, err)
	}
	return &v2{mountpoint: mountpoint, path: path, m: m}, nil
}

func (c *v2) Path() string { return c.path }

func (c *v2) ProcsFiles() []string {
	return []string{filepath.Join(c.mountpoint, c.path, "cgroup.procs")}
}

func (c *v2) Add(pid int) error {
	if err := c.m.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("add %d to cgroup %s: %w", pid, c.path, err)
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
	return pids, nil
}

func (c *v2) Update(res *specs.LinuxResources) error {
	if err := c.m.Update(toV2(res)); err != nil {
		return fmt.Errorf("update cgroup %s: %w", c.path, err)
	}
	return nil
}

func (c *v2) Freeze() error { return c.m.Freeze() }
func (c *v2) Thaw() error   { return c.m.Thaw() }

func (c *v2) Delete() error {
	if _, err := os.Stat(filepath.Join(c.mountpoint, c.path)); notExist(err) {
		return nil
	}
	if pids, _ := c.Pids(); len(pids) > 0 {
		return fmt.Errorf("cgroup %s still has processes %v: %w", c.path, pids, errdefs.ErrFailedPrecondition)
	}
	if err := c.m.Delete(); err != nil && !notExist(err) {
		return fmt.Errorf("remove cgroup %s: %w", c.path, err)
	}
	return nil
}

// toV2 converts spec resources with the library, except the blkio weight:
// its conversion overflows 16 bits for most weights (500 becomes 51).
// io.bfq.weight has blkio.weight's own range, so the value passes as is.
func toV2(res *specs.LinuxResources) *cgroup2.Resources {
	r := cgroup2.ToResources(res)
	if res.BlockIO != nil && res.BlockIO.Weight != nil && r.IO != nil {
		r.IO.BFQ.Weight = *res.BlockIO.Weight
	}
	return r
}
