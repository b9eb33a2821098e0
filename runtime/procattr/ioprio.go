package procattr

import (
	"fmt"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ioprio_set(2)'s encoding (include/uapi/linux/ioprio.h): the class in the
// bits above 13, the level below.
const (
	ioprioClassShift = 13
	ioprioWhoProcess = 1
)

// IOPrio checks process.ioPriority and encodes it for ioprio_set.
func IOPrio(p *specs.LinuxIOPriority) (int, bool, error) {
	if p == nil {
		return 0, false, nil
	}
	var class int
	switch p.Class {
	case specs.IOPRIO_CLASS_RT:
		class = 1
	case specs.IOPRIO_CLASS_BE:
		class = 2
	case specs.IOPRIO_CLASS_IDLE:
		class = 3
	default:
		return 0, false, fmt.Errorf("process.ioPriority: unknown class %q: %w", p.Class, errdefs.ErrInvalidArgument)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return 0, false, fmt.Errorf("process.ioPriority: priority %d is outside 0..7: %w", p.Priority, errdefs.ErrInvalidArgument)
	}
	return class<<ioprioClassShift | p.Priority, true, nil
}

// SetIOPriority applies process.ioPriority to the calling thread, which
// keeps it across execve. (runc sets it for the process group; the spec
// asks it of the process, and the group may hold more than the container's
// process.)
func SetIOPriority(p *specs.LinuxIOPriority) error {
	prio, ok, err := IOPrio(p)
	if err != nil || !ok {
		return err
	}
	if _, _, e := unix.RawSyscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(prio)); e != 0 {
		return fmt.Errorf("process.ioPriority: the kernel refused ioprio_set(%s, %d): %w", p.Class, p.Priority, e)
	}
	return nil
}

// GetIOPriority returns the I/O priority of thread or process pid, as
// ioprio_get(IOPRIO_WHO_PROCESS) encodes it. Tests use it to check.
func GetIOPriority(pid int) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(pid), 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
