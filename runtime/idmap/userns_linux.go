package idmap

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// UserNS returns an open user namespace (an nsfs file) whose uid_map and
// gid_map are uid and gid, "containerID hostID size" as the spec writes
// them. Both must be given: a mount mapped on one axis only would show the
// other's ids as the overflow id.
//
// The namespace needs a process to be made in: a child cloned into it with
// the maps written by us (Go's os.StartProcess does that between clone and
// execve). The child asks to be traced, so it stops at its execve before
// running anything; once its namespace is open it is killed and reaped.
func UserNS(uid, gid []specs.LinuxIDMapping) (_ *os.File, retErr error) {
	if len(uid) == 0 || len(gid) == 0 {
		return nil, fmt.Errorf("an id mapping needs both uid and gid mappings: %w", errdefs.ErrInvalidArgument)
	}
	proc, err := os.StartProcess("/proc/self/exe", []string{"raind-idmap-holder"}, &os.ProcAttr{
		Sys: &syscall.SysProcAttr{
			Cloneflags:  unix.CLONE_NEWUSER,
			UidMappings: sysMaps(uid),
			GidMappings: sysMaps(gid),
			// The namespace is only looked at, never entered: setgroups
			// has nothing to allow.
			GidMappingsEnableSetgroups: false,
			Ptrace:                     true,
			Pdeathsig:                  unix.SIGKILL,
		},
		// No files: the holder never runs, and must not hold ours.
		Files: []*os.File{},
	})
	if err != nil {
		return nil, fmt.Errorf("start a process in a user namespace mapped uid %v gid %v: %w", uid, gid, err)
	}
	defer func() {
		// A traced child stopped at its execve dies of SIGKILL alone.
		kerr := proc.Kill()
		_, werr := proc.Wait()
		if kerr != nil && !errors.Is(kerr, os.ErrProcessDone) {
			retErr = errors.Join(retErr, fmt.Errorf("kill id-map holder %d: %w", proc.Pid, kerr))
		} else if werr != nil {
			retErr = errors.Join(retErr, fmt.Errorf("reap id-map holder %d: %w", proc.Pid, werr))
		}
	}()
	f, err := os.Open("/proc/" + strconv.Itoa(proc.Pid) + "/ns/user")
	if err != nil {
		return nil, fmt.Errorf("open the user namespace of id-map holder %d: %w", proc.Pid, err)
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
