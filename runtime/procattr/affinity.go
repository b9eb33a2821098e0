package procattr

import (
	"fmt"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Affinity is a checked process.execCPUAffinity; a nil set means the spec
// leaves that stage alone.
type Affinity struct {
	Initial, Final *unix.CPUSet
}

// ParseAffinity checks process.execCPUAffinity. A list that names no CPU
// at all is refused: sched_setaffinity would fail with EINVAL anyway, and
// "final" being empty means "leave it", which the spec spells by omission.
func ParseAffinity(a *specs.CPUAffinity) (Affinity, error) {
	var out Affinity
	if a == nil {
		return out, nil
	}
	parse := func(field, s string) (*unix.CPUSet, error) {
		if s == "" {
			return nil, nil
		}
		set, err := parseList(field, s)
		if err != nil {
			return nil, err
		}
		if set.Count() == 0 {
			return nil, fmt.Errorf("%s %q names no CPU: %w", field, s, errdefs.ErrInvalidArgument)
		}
		return &set, nil
	}
	var err error
	if out.Initial, err = parse("process.execCPUAffinity.initial", a.Initial); err != nil {
		return Affinity{}, err
	}
	if out.Final, err = parse("process.execCPUAffinity.final", a.Final); err != nil {
		return Affinity{}, err
	}
	return out, nil
}

// SetFinalAffinity applies execCPUAffinity.final to the calling thread,
// the last step before execve, after the process has joined the
// container's cgroup.
func SetFinalAffinity(a *specs.CPUAffinity) error {
	aff, err := ParseAffinity(a)
	if err != nil || aff.Final == nil {
		return err
	}
	if err := unix.SchedSetaffinity(0, aff.Final); err != nil {
		return fmt.Errorf("process.execCPUAffinity.final %q: the kernel refused sched_setaffinity: %w", a.Final, err)
	}
	return nil
}
