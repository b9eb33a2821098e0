package runtime

import (
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Cgroup is a container's cgroup, as this package uses it.
type Cgroup interface {
	// ProcsFiles are the cgroup.procs files a new process joins through.
	ProcsFiles() []string
	// ExecProcsFiles are the cgroup.procs files a process exec'd into the
	// container joins, given init's pid.
	ExecProcsFiles(initPid int) ([]string, error)
	// Pids lists every process in the cgroup.
	Pids() ([]int, error)
	// Delete removes the cgroup; nil if it is already gone.
	Delete() error
}

// cgroupAttacher is a Cgroup that must be told the container's init once it
// has joined, before it runs anything of the container's: systemd's, which
// starts a scope unit only with a process in it (runtime/cgroups.Attacher).
type cgroupAttacher interface {
	Attach(pid int) error
}

// Cgroups creates, loads and empties cgroups; runtime/cgroups.Driver
// fills it in. It is handed in rather than imported because this package
// is also the container's init: re-executed for every container and exec,
// it would otherwise link the cgroup library's dependencies (protobuf
// stats, eBPF, D-Bus) and run their package initialisers at every start.
type Cgroups struct {
	New     func(path string, res *specs.LinuxResources) (Cgroup, error)
	Load    func(path string) (Cgroup, error)
	KillAll func(cg Cgroup, sig syscall.Signal, timeout time.Duration) error
}
