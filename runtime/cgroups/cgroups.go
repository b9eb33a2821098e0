// Package cgroups owns a container's cgroup on cgroup v1 (including hybrid
// hosts) and v2: creating it with its limits in force before any process
// joins, telling a new process how to join, listing, freezing and killing
// its processes, reporting its statistics and OOM kills, and removing it.
//
// It builds on github.com/containerd/cgroups/v3, the cgroup library
// containerd and its runc shim use: cgroup1 and cgroup2 create, load and
// delete the cgroup, write the limits they can express correctly, move and
// list processes, kill (v2 cgroup.kill), collect the statistics, in the
// protobuf types containerd's Stats API carries, and deliver OOM events.
// It is a design dependency: containerd's Stats API carries the library's
// metrics types, and the shim serves the same cgroups the runc shim does;
// it costs the shim the protobuf runtime, cilium/ebpf and godbus. Where the library is wrong or falls
// short, this package corrects it at the edge, before or after calling
// it; each place says why, marked "Report upstream", with a test that
// fails without the correction:
//   - v1: zero realtime values are skipped (the kernel refuses
//     cpu.rt_period_us=0, and nerdctl sends zeros); memory and memory+swap
//     limits are applied in the order the kernel accepts; a pids limit can
//     be lifted; the BFQ weight files are used where CFQ's are missing;
//     cpu burst and idle, memory.use_hierarchy, hugetlb reservation limits,
//     hugetlb and net_prio updates and every rdma device are written here.
//   - v2: cgroup2.ToResources is not used: it overflows the blkio weight
//     in 16 bits (500 becomes 51, where runc writes 500 to io.bfq.weight
//     or 4950 to io.weight), computes swap wrongly for unlimited swap and
//     cannot write "max"; the conversion is done here and the library
//     writes what its Resources can hold, the rest (unlimited values,
//     io.weight, per-device weights, cpu burst and idle, the unified map)
//     is written here. Controllers are enabled through the library, and
//     checked after, since it keeps only the last ancestor's error.
//   - v2 Stats without a pids controller: the library reads the missing
//     pids.current as 0 processes; the tasks are counted here instead.
//   - Freeze and thaw: the library polls without a bound (and on v2 reads
//     back cgroup.freeze, which only echoes the request), so a task stuck
//     in uninterruptible sleep would hang KillAll; they are done here with
//     a bound.
//   - The v2 device filter is raind's own (devicefilter.go, bpf.go): the
//     library's cgroup2.DeviceFilter lets an access through when it shares
//     any bit with an allowed rule, so "c 1:7 r" allows opening /dev/full
//     read-write (TestLibraryDeviceFilterSharedBit shows it on the kernel),
//     and its attach only ever adds programs, so an update could never
//     widen the allowed devices. raind's filter decides every access bit
//     by the last rule naming it and replaces the old program, built
//     from the rules in force followed by the update's, so that an update
//     adds to the rules as on v1; keeping it costs no dependency, since
//     cgroup2 links cilium/ebpf anyway.
//
// A "slice:prefix:name" cgroupsPath (Kubernetes with SystemdCgroup, the
// kubeadm default) is systemd's (systemd*.go), as with runc's systemd
// driver: the unit is "prefix-name.scope" (or name, if it is a slice) in
// the slice (system.slice if empty), in the directory systemd gives it
// ("a-b.slice" is a.slice/a-b.slice). New makes the directories with the
// limits in force as the cgroupfs driver does; the scope is started
// through go-systemd's D-Bus client (github.com/coreos/go-systemd/v22/dbus)
// with the container's first process (Attacher: systemd starts no empty
// scope), Slice=, Delegate=yes, DefaultDependencies=no, accounting, and the
// resources systemd manages as properties (v1 MemoryLimit, CPUShares,
// BlockIOWeight; v2 MemoryMax/Low/SwapMax, CPUWeight; both CPUQuota,
// TasksMax, AllowedCPUs, DevicePolicy=strict with DeviceAllow), so that a
// reload of systemd rewrites the same limits instead of lifting them;
// everything else (joining, listing, freezing, statistics, OOM events, the
// limits systemd has no property for) is done by the cgroupfs manager, the
// limits systemd has a property for included. Update sets the properties
// and then writes the files; Delete stops the unit once it is empty.
// Where systemd does not run (no /run/systemd/system, or no D-Bus
// connection) New fails with ErrFailedPrecondition, and Load still finds
// the files to clean up. The library's own systemd support is not used:
// cgroup2.NewSystemd starts every scope in system.slice whatever slice it
// is given and never delegates, and cgroup1's starts no scope of the
// container's (TestLibrarySystemdIgnoresSlice). Report upstream.
//
// The package must not know about the shim, containerd or container
// processes beyond their pids, must not touch any cgroup other than the
// one it was given and the parents it created for it (for a systemd path,
// nothing systemd has not been asked for but the unit's own directories),
// and keeps no package-level mutable state.
package cgroups

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// Manager is one container's cgroup.
type Manager interface {
	// Path is the cgroupsPath the cgroup was created or loaded with.
	Path() string
	// ProcsFiles are the absolute paths of the cgroup.procs files a
	// process writes "0" into to join the cgroup: one per v1 hierarchy
	// (named ones such as name=systemd included) where the cgroup
	// exists, one on v2.
	ProcsFiles() []string
	// ExecProcsFiles are the cgroup.procs files a process exec'd into the
	// running container joins, given its init's pid: ProcsFiles, except
	// on v2 when the container's cgroup itself can take no process.
	ExecProcsFiles(initPid int) ([]string, error)
	// Add moves pid into the cgroup, in every hierarchy.
	Add(pid int) error
	// Pids lists every process in the cgroup and its descendants.
	Pids() ([]int, error)
	// Update applies new limits.
	Update(res *specs.LinuxResources) error
	// Freeze and Thaw stop and resume every process in the cgroup.
	Freeze() error
	Thaw() error
	// Delete removes the cgroup. It fails with ErrFailedPrecondition while
	// processes remain, and is nil if the cgroup is already gone.
	Delete() error
	// Stats returns the library's metrics for the cgroup, as containerd's
	// Stats API carries them in an Any: a *stats.Metrics of
	// github.com/containerd/cgroups/v3/cgroup1/stats on v1, of
	// .../cgroup2/stats on v2.
	Stats() (proto.Message, error)
	// OOMEvents reports every OOM kill in the cgroup with a value on the
	// returned channel. The channel is closed when ctx is done or the
	// cgroup is removed; events that arrive while the previous one has not
	// been received yet are merged into it. It is ErrNotImplemented
	// without a memory controller.
	OOMEvents(ctx context.Context) (<-chan struct{}, error)
	// OOMKills is the kernel's count of OOM kills in the cgroup since it
	// was made: oom_kill of memory.events on v2, of memory.oom_control on
	// v1 (Linux 4.13 and later). The kernel counts a kill before it sends
	// the SIGKILL, so once the victim has been reaped its kill is counted,
	// whereas the OOMEvents notification may still be on its way. It is
	// ErrNotImplemented without a memory controller or where the kernel
	// does not count, ErrNotFound once the cgroup is gone.
	OOMKills() (uint64, error)
}

// Attacher is a Manager whose cgroup another party owns and must be given
// the container's first process once it has joined: the systemd driver's,
// since systemd starts a scope unit only with a process in it.
type Attacher interface {
	Attach(pid int) error
}

const (
	// freezeTimeout bounds how long Freeze waits for the kernel to report
	// the cgroup frozen: a task in uninterruptible sleep can keep it
	// "freezing" forever, and KillAll must not hang on that.
	freezeTimeout = 5 * time.Second
	pollInterval  = 5 * time.Millisecond
)

// cleanPath makes a spec cgroupsPath absolute; like runc, a relative path is
// taken from the root of the hierarchy.
func cleanPath(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("empty cgroups path: %w", errdefs.ErrInvalidArgument)
	}
	p := filepath.Clean("/" + path)
	if p == "/" {
		return "", fmt.Errorf("cgroups path %q is the root: %w", path, errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// New creates the cgroup at path (a spec linux.cgroupsPath) and applies res
// to it before returning, so the limits bind every process that joins. A
// "slice:prefix:name" path (IsSystemdPath) is systemd's, through its D-Bus
// API; New then fails with ErrFailedPrecondition where systemd does not
// run. Its Manager is also an Attacher.
func New(path string, res *specs.LinuxResources) (Manager, error) {
	if IsSystemdPath(path) {
		return newSystemd(realSystemd(), path, res)
	}
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	if res == nil {
		res = &specs.LinuxResources{}
	}
	if unifiedHost() {
		return newV2(unifiedMountpoint, p, res)
	}
	subs, err := v1Subsystems()
	if err != nil {
		return nil, err
	}
	return newV1(subs, p, res)
}

// Load opens an existing cgroup, for cleaning up after a crashed shim. It is
// ErrNotFound if the cgroup does not exist.
func Load(path string) (Manager, error) {
	if IsSystemdPath(path) {
		return loadSystemd(realSystemd(), path)
	}
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	if unifiedHost() {
		return loadV2(unifiedMountpoint, p)
	}
	subs, err := v1Subsystems()
	if err != nil {
		return nil, err
	}
	return loadV1(subs, p)
}

// unifiedHost reports whether /sys/fs/cgroup is itself a cgroup2 mount, a
// v2-only host. On legacy and hybrid hosts the controllers are on v1, and a
// cgroup2 at /sys/fs/cgroup/unified, if any, has none of them.
func unifiedHost() bool {
	var st unix.Statfs_t
	return unix.Statfs(unifiedMountpoint, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// cgroupKiller is implemented by managers that can kill a whole cgroup in
// one step (v2 cgroup.kill), which needs no freezing to beat forks.
type cgroupKiller interface {
	killCgroup() error
}

// KillAll sends sig to every process of m. The cgroup is frozen meanwhile
// so that no process can fork a child that misses the signal, and it is
// thawed whatever happens, since stopped processes cannot act on a signal.
// For SIGKILL with timeout > 0 it then waits for the cgroup to be empty.
func KillAll(m Manager, sig syscall.Signal, timeout time.Duration) error {
	killed := false
	if k, ok := m.(cgroupKiller); ok && sig == syscall.SIGKILL {
		killed = k.killCgroup() == nil
	}
	if !killed {
		if err := signalFrozen(m, sig); err != nil {
			return err
		}
	}
	if sig != syscall.SIGKILL || timeout <= 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	for {
		pids, err := m.Pids()
		if err != nil || len(pids) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still in cgroup %s after %s: %w", pids, m.Path(), timeout, context.DeadlineExceeded)
		}
		time.Sleep(pollInterval)
	}
}

// cgroupGone tells whether err is the cgroup's directory having been
// removed: writeFile says NotFound, a plain read says ENOENT.
func cgroupGone(err error) bool {
	return notExist(err) || errdefs.IsNotFound(err)
}

func signalFrozen(m Manager, sig syscall.Signal) error {
	// Without a freezer the signal is still worth sending: it reaches
	// every process that exists now, which is the best we can do.
	ferr := m.Freeze()
	pids, err := m.Pids()
	if err == nil {
		for _, pid := range pids {
			if kerr := syscall.Kill(pid, sig); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
				err = fmt.Errorf("signal %d to pid %d: %w", sig, pid, kerr)
			}
		}
	}
	// Thaw even when Freeze failed: a freeze that timed out or half
	// succeeded must not leave the cgroup stopped. A cgroup that is gone
	// by now is not stopped either: the signal killed its last process
	// and the container's delete removed it in the meantime.
	if terr := m.Thaw(); terr != nil && !cgroupGone(terr) && ferr == nil && err == nil {
		err = fmt.Errorf("thaw cgroup %s: %w", m.Path(), terr)
	}
	return err
}
