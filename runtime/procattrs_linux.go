package runtime

import (
	"encoding/json"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/raind/raind/runtime/lsm"
	"github.com/raind/raind/runtime/procattr"
)

// containerAttrs are the container-wide settings of linux that every
// process of the container gets, execs included (runc's setns init applies
// them as its standard init does). An exec's init learns them from
// initConfig.ContainerAttrs, since it never sees the container's spec.
type containerAttrs struct {
	Personality  *specs.LinuxPersonality  `json:"personality,omitempty"`
	MemoryPolicy *specs.LinuxMemoryPolicy `json:"memoryPolicy,omitempty"`
}

// execAttrsOf encodes a container's containerAttrs for its execs, or nil
// when it has none, so that a Container holds nothing for most specs.
func execAttrsOf(l *linuxView) (json.RawMessage, error) {
	var a containerAttrs
	if present(l.Personality) {
		a.Personality = &specs.LinuxPersonality{}
		if err := json.Unmarshal(l.Personality, a.Personality); err != nil {
			return nil, fmt.Errorf("linux.personality: %w", err)
		}
	}
	a.MemoryPolicy = l.MemoryPolicy
	if a.Personality == nil && a.MemoryPolicy == nil {
		return nil, nil
	}
	return json.Marshal(a)
}

// attrsFor returns the containerAttrs of the process being prepared.
func attrsFor(cfg *initConfig, spec *specs.Spec) (containerAttrs, error) {
	if !cfg.Exec {
		if spec.Linux == nil {
			return containerAttrs{}, nil
		}
		return containerAttrs{Personality: spec.Linux.Personality, MemoryPolicy: spec.Linux.MemoryPolicy}, nil
	}
	var a containerAttrs
	if len(cfg.ContainerAttrs) > 0 {
		if err := json.Unmarshal(cfg.ContainerAttrs, &a); err != nil {
			return a, fmt.Errorf("container attributes: %w", err)
		}
	}
	return a, nil
}

// applyProcessAttrs sets, on this thread, what the process keeps across
// execve and what the kernel may refuse, so that a refusal fails Create
// (or Exec) rather than Start: scheduling, I/O priority and memory policy
// (runc's order, in standard_init_linux.go), and the AppArmor profile for
// the coming execve (runc also asks before reporting ready).
func applyProcessAttrs(proc *specs.Process, attrs containerAttrs) error {
	if err := procattr.SetScheduler(proc.Scheduler); err != nil {
		return err
	}
	if err := procattr.SetIOPriority(proc.IOPriority); err != nil {
		return err
	}
	if err := procattr.SetMemoryPolicy(attrs.MemoryPolicy); err != nil {
		return err
	}
	return lsm.ApplyAppArmor(proc.ApparmorProfile)
}

// beforeExec does what must come last before execve: the SELinux exec
// label (runc sets it after reporting ready too), the execution domain
// (ADDR_LIMIT_32BIT and the like would constrain this Go process's own
// later allocations), and the final CPU affinity, once the process is in
// the container's cgroup.
func beforeExec(proc *specs.Process, attrs containerAttrs) error {
	if err := lsm.SetExecLabel(proc.SelinuxLabel); err != nil {
		return err
	}
	if err := procattr.SetPersonality(attrs.Personality); err != nil {
		return err
	}
	return procattr.SetFinalAffinity(proc.ExecCPUAffinity)
}
