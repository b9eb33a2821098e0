package idmap

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Starter starts cmd and returns how to wait for its exit. A process that
// reaps its children itself (a shim, as subreaper) passes its own, so that
// the helper's exit is not taken from under Wait; nil uses cmd.Start and
// cmd.Wait.
type Starter func(cmd *exec.Cmd) (wait func() error, err error)

// UserNS returns an open user namespace (an nsfs file) whose uid_map and
// gid_map are uid and gid, "containerID hostID size" as the spec writes
// them. Both must be given: a mount mapped on one axis only would show the
// other's ids as the overflow id.
//
// The namespace needs a process to be made in: a child cloned into it with
// the maps written by us (Go's os/exec does that between clone and
// execve). The child asks to be traced, so it stops at its execve before
// running anything; once its namespace is open it is killed and reaped.
func UserNS(uid, gid []specs.LinuxIDMapping, start Starter) (_ *os.File, retErr error) {
	if len(uid) == 0 || len(gid) == 0 {
		return nil, fmt.Errorf("an id mapping needs both uid and gid mappings: %w", errdefs.ErrInvalidArgument)
	}
	if start == nil {
		start = func(cmd *exec.Cmd) (func() error, error) { return cmd.Wait, cmd.Start() }
	}
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{"raind-idmap-holder"},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:  unix.CLONE_NEWUSER,
			UidMappings: sysMaps(uid),
			GidMappings: sysMaps(gid),
			// The namespace is only looked at, never entered: setgroups
			// has nothing to allow.
			GidMappingsEnableSetgroups: false,
			Ptrace:                     true,
			Pdeathsig:                  unix.SIGKILL,
		},
	}
	wait, err := start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start a process in a user namespace mapped uid %v gid %v: %w", uid, gid, err)
	}
	pid := cmd.Process.Pid
	defer func() {
		// A traced child stopped at its execve dies of SIGKILL alone. Its
		// exit status is ours to ignore: it was killed. ECHILD: a
		// subreaper's own loop (a shim's, where no Starter routes exits
		// to us) reaped it first; it is gone all the same.
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			retErr = errors.Join(retErr, fmt.Errorf("kill id-map holder %d: %w", pid, err))
		}
		var exit *exec.ExitError
		if err := wait(); err != nil && !errors.As(err, &exit) && !errors.Is(err, syscall.ECHILD) {
			retErr = errors.Join(retErr, fmt.Errorf("reap id-map holder %d: %w", pid, err))
		}
	}()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/user")
	if err != nil {
		return nil, fmt.Errorf("open the user namespace of id-map holder %d: %w", pid, err)
	}
	defer func() {
		if retErr != nil {
			f.Close()
		}
	}()
	return f, nil
}

func sysMaps(ms []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(ms))
	for i, m := range ms {
		out[i] = syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)}
	}
	return out
}
