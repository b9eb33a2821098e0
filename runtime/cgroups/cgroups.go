// Package cgroups owns a container's cgroup on cgroup v1 (including hybrid
// hosts) and v2: creating it with its limits in force before any process
// joins, telling a new process how to join, listing, freezing and killing
// its processes, and removing it.
//
// It builds on github.com/containerd/cgroups/v3 and must not know about
// the shim, containerd or container processes beyond their pids.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Manager is one container's cgroup.
type Manager interface {
	// Path is the cgroupsPath the cgroup was created or loaded with.
	Path() string
	// ProcsFiles are the cgroup.procs files a process writes "0" into to
	// join the cgroup: one per v1 hierarchy, one on v2.
	ProcsFiles() []string
	// Add moves pid into the cgroup.
	Add(pid int) error
	// Pids lists every process in the cgroup and its descendants.
	Pids() ([]int, error)
	// Update applies new limits.
	Update(res *specs.LinuxResources) error
	// Freeze and Thaw stop and resume every process in the cgroup.
	Freeze() error
	Thaw() error
	// Delete removes the cgroup; nil if it is already gone.
	Delete() error
}

// cleanPath makes a spec cgroupsPath absolute; a relative path is taken
// from the root of the hierarchy. Systemd "slice:prefix:name" paths are
// refused, since raind has no systemd driver.
func cleanPath(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("empty cgroups path: %w", errdefs.ErrInvalidArgument)
	}
	if strings.Contains(path, ":") {
		return "", fmt.Errorf("systemd cgroups path %q: %w", path, errdefs.ErrNotImplemented)
	}
	p := filepath.Clean("/" + path)
	if p == "/" {
		return "", fmt.Errorf("cgroups path %q is the root: %w", path, errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// New creates the cgroup at path with res applied.
func New(path string, res *specs.LinuxResources) (Manager, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	if res == nil {
		res = &specs.LinuxResources{}
	}
	if cgroups.Mode() == cgroups.Unified {
		return newV2(unifiedMountpoint, p, res)
	}
	return newV1(p, res)
}

// Load opens an existing cgroup.
func Load(path string) (Manager, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	if cgroups.Mode() == cgroups.Unified {
		return loadV2(unifiedMountpoint, p)
	}
	return loadV1(p)
}

// KillAll sends sig to every process of m. The cgroup is frozen meanwhile
// so that no process forks past the signal; it is thawed whatever happens.
// With timeout > 0 it then waits for the cgroup to become empty.
func KillAll(m Manager, sig syscall.Signal, timeout time.Duration) error {
	frozen := m.Freeze() == nil
	pids, err := m.Pids()
	if err == nil {
		for _, pid := range pids {
			if kerr := syscall.Kill(pid, sig); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
				err = fmt.Errorf("signal %d to %d: %w", sig, pid, kerr)
			}
		}
	}
	if frozen {
		if terr := m.Thaw(); terr != nil && err == nil {
			err = terr
		}
	}
	if err != nil || timeout <= 0 {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		pids, err := m.Pids()
		if err != nil || len(pids) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes still in cgroup %s after %s", len(pids), m.Path(), timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func notExist(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT)
}
