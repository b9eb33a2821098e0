package runtime

import (
	"fmt"
	"os/exec"
	goruntime "runtime"

	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"
)

// startChild starts cmd through the monitor; with cpus set, from a thread
// pinned to them, so that the child starts on those CPUs (the initial half
// of process.execCPUAffinity) before it joins the container's cgroup. The
// child inherits the affinity of the thread that forks it, and that thread
// is then thrown away rather than returned to the Go scheduler with a
// narrowed affinity: a goroutine that exits while locked takes its thread
// with it.
func startChild(m Monitor, cmd *exec.Cmd, cpus *unix.CPUSet) (chan runc.Exit, error) {
	if cpus == nil {
		return m.Start(cmd)
	}
	type result struct {
		ec  chan runc.Exit
		err error
	}
	done := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		if err := unix.SchedSetaffinity(0, cpus); err != nil {
			done <- result{err: fmt.Errorf("process.execCPUAffinity.initial: the kernel refused sched_setaffinity: %w", err)}
			return
		}
		ec, err := m.Start(cmd)
		done <- result{ec, err}
	}()
	r := <-done
	return r.ec, r.err
}
