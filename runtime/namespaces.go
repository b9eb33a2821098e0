package runtime

import (
	"fmt"
	"path/filepath"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsKinds lists the namespaces raind handles, in the order they are joined:
// mount last, because joining it changes how the other paths resolve (the
// constructor opens every path first anyway), and pid before cgroup so that
// both apply to the forked container process.
var nsKinds = []struct {
	typ   specs.LinuxNamespaceType
	flag  uintptr
	proc  string
	start bool
}{
	{specs.IPCNamespace, unix.CLONE_NEWIPC, "ipc", true},
	{specs.UTSNamespace, unix.CLONE_NEWUTS, "uts", true},
	{specs.NetworkNamespace, unix.CLONE_NEWNET, "net", true},
	{specs.PIDNamespace, unix.CLONE_NEWPID, "pid", true},
	{specs.CgroupNamespace, unix.CLONE_NEWCGROUP, "cgroup", true},
	{specs.MountNamespace, unix.CLONE_NEWNS, "mnt", true},
}

// nsPlan is what the constructor must do for a new init process.
type nsPlan struct {
	newFlags uintptr
	join     []string
	fork     bool
}

// planNamespaces maps the spec's namespaces to new ones to unshare and paths
// to join. A pid namespace, new or joined, needs a fork because it applies
// only to children of the process that entered it.
func planNamespaces(nss []specs.LinuxNamespace) (nsPlan, error) {
	var p nsPlan
	seen := map[specs.LinuxNamespaceType]bool{}
	byType := map[specs.LinuxNamespaceType]specs.LinuxNamespace{}
	for _, ns := range nss {
		if seen[ns.Type] {
			return p, fmt.Errorf("namespace %q listed twice: %w", ns.Type, errdefs.ErrInvalidArgument)
		}
		seen[ns.Type] = true
		byType[ns.Type] = ns
	}
	for t := range byType {
		known := false
		for _, k := range nsKinds {
			if k.typ == t {
				known = true
			}
		}
		if !known {
			// User and time namespaces need id or clock mappings written
			// from outside; until that exists, refusing is honest.
			return p, fmt.Errorf("namespace %q: %w", t, errdefs.ErrNotImplemented)
		}
	}
	for _, k := range nsKinds {
		ns, ok := byType[k.typ]
		if !ok {
			continue
		}
		if ns.Path != "" {
			if !filepath.IsAbs(ns.Path) {
				return p, fmt.Errorf("namespace %q path %q is not absolute: %w", ns.Type, ns.Path, errdefs.ErrInvalidArgument)
			}
			p.join = append(p.join, ns.Path)
		} else {
			p.newFlags |= k.flag
		}
		if k.typ == specs.PIDNamespace {
			p.fork = true
		}
	}
	if !containsNS(nss, specs.MountNamespace) {
		return p, fmt.Errorf("a mount namespace is required: %w", errdefs.ErrInvalidArgument)
	}
	return p, nil
}

func containsNS(nss []specs.LinuxNamespace, t specs.LinuxNamespaceType) bool {
	for _, ns := range nss {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// execJoinPaths lists the namespaces of a running container's init that an
// exec process enters: all of them, so that it sees exactly what init sees.
func execJoinPaths(initPid int) []string {
	paths := make([]string, 0, len(nsKinds))
	for _, k := range nsKinds {
		paths = append(paths, fmt.Sprintf("/proc/%d/ns/%s", initPid, k.proc))
	}
	return paths
}
