package cgroups

import (
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Driver returns New, Load and KillAll in the shape package runtime takes
// them (runtime.Cgroups; T is runtime.Cgroup, which Manager satisfies).
// runtime cannot import this package: its init side must not link the
// cgroup library.
func Driver[T any]() (newFn func(string, *specs.LinuxResources) (T, error), load func(string) (T, error), killAll func(T, syscall.Signal, time.Duration) error) {
	asT := func(m Manager, err error) (T, error) {
		var zero T
		if err != nil {
			return zero, err
		}
		t, ok := any(m).(T)
		if !ok {
			return zero, fmt.Errorf("cgroup manager %T is not a %T: %w", m, zero, errdefs.ErrInternal)
		}
		return t, nil
	}
	newFn = func(path string, res *specs.LinuxResources) (T, error) { return asT(New(path, res)) }
	load = func(path string) (T, error) { return asT(Load(path)) }
	killAll = func(cg T, sig syscall.Signal, timeout time.Duration) error {
		m, ok := any(cg).(Manager)
		if !ok {
			return fmt.Errorf("%T is not a cgroup manager: %w", cg, errdefs.ErrInternal)
		}
		return KillAll(m, sig, timeout)
	}
	return newFn, load, killAll
}
