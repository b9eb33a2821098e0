package procattr

import (
	"fmt"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func mpolMode(m specs.MemoryPolicyModeType) (int, bool) {
	switch m {
	case specs.MpolDefault:
		return unix.MPOL_DEFAULT, true
	case specs.MpolPreferred:
		return unix.MPOL_PREFERRED, true
	case specs.MpolBind:
		return unix.MPOL_BIND, true
	case specs.MpolInterleave:
		return unix.MPOL_INTERLEAVE, true
	case specs.MpolLocal:
		return unix.MPOL_LOCAL, true
	case specs.MpolPreferredMany:
		return unix.MPOL_PREFERRED_MANY, true
	case specs.MpolWeightedInterleave:
		return unix.MPOL_WEIGHTED_INTERLEAVE, true
	}
	return 0, false
}

func mpolFlag(f specs.MemoryPolicyFlagType) (int, bool) {
	switch f {
	case specs.MpolFNumaBalancing:
		return unix.MPOL_F_NUMA_BALANCING, true
	case specs.MpolFRelativeNodes:
		return unix.MPOL_F_RELATIVE_NODES, true
	case specs.MpolFStaticNodes:
		return unix.MPOL_F_STATIC_NODES, true
	}
	return 0, false
}

// MemoryPolicyModes and MemoryPolicyFlags are the names raind recognises,
// for the features document.
func MemoryPolicyModes() []string {
	return []string{
		string(specs.MpolDefault), string(specs.MpolBind), string(specs.MpolInterleave),
		string(specs.MpolWeightedInterleave), string(specs.MpolPreferred), string(specs.MpolPreferredMany),
		string(specs.MpolLocal),
	}
}

// MemoryPolicyFlags: see MemoryPolicyModes.
func MemoryPolicyFlags() []string {
	return []string{string(specs.MpolFNumaBalancing), string(specs.MpolFRelativeNodes), string(specs.MpolFStaticNodes)}
}

// MemPolicy is a checked linux.memoryPolicy: set_mempolicy's mode argument
// (mode and flags together) and node mask.
type MemPolicy struct {
	Mode  int
	Nodes unix.CPUSet
}

// ParseMemoryPolicy checks linux.memoryPolicy: a known mode and flags, and
// the node count each mode needs (none for MPOL_DEFAULT and MPOL_LOCAL, at
// least one for BIND, INTERLEAVE and their kin, any for PREFERRED).
func ParseMemoryPolicy(p *specs.LinuxMemoryPolicy) (*MemPolicy, error) {
	if p == nil {
		return nil, nil
	}
	mode, ok := mpolMode(p.Mode)
	if !ok {
		return nil, fmt.Errorf("linux.memoryPolicy: unknown mode %q: %w", p.Mode, errdefs.ErrInvalidArgument)
	}
	nodes, err := parseList("linux.memoryPolicy.nodes", p.Nodes)
	if err != nil {
		return nil, err
	}
	switch n := nodes.Count(); mode {
	case unix.MPOL_DEFAULT, unix.MPOL_LOCAL:
		if n != 0 {
			return nil, fmt.Errorf("linux.memoryPolicy: mode %s takes no nodes, got %q: %w", p.Mode, p.Nodes, errdefs.ErrInvalidArgument)
		}
	case unix.MPOL_BIND, unix.MPOL_INTERLEAVE, unix.MPOL_PREFERRED_MANY, unix.MPOL_WEIGHTED_INTERLEAVE:
		if n == 0 {
			return nil, fmt.Errorf("linux.memoryPolicy: mode %s needs at least one node: %w", p.Mode, errdefs.ErrInvalidArgument)
		}
	}
	for _, f := range p.Flags {
		bit, ok := mpolFlag(f)
		if !ok {
			return nil, fmt.Errorf("linux.memoryPolicy: unknown flag %q: %w", f, errdefs.ErrInvalidArgument)
		}
		mode |= bit
	}
	return &MemPolicy{Mode: mode, Nodes: nodes}, nil
}

// SetMemoryPolicy applies linux.memoryPolicy to the calling thread; the
// policy survives execve.
func SetMemoryPolicy(p *specs.LinuxMemoryPolicy) error {
	mp, err := ParseMemoryPolicy(p)
	if err != nil || mp == nil {
		return err
	}
	if err := unix.SetMemPolicy(mp.Mode, &mp.Nodes); err != nil {
		return fmt.Errorf("linux.memoryPolicy: the kernel refused set_mempolicy(%s, nodes %q): %w", p.Mode, p.Nodes, err)
	}
	return nil
}
