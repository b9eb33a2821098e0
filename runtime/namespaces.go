package runtime

import (
	"fmt"
	"path/filepath"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/raind/raind/runtime/nsenter"
)

// nsKinds lists the namespaces raind handles, in the order they are joined:
// the user namespace first, since the others belong to it (the constructor
// still enters a namespace of the host's user namespace before it, see
// nsenter.c); mount last, because joining it changes how the other paths
// resolve (the constructor opens every path first anyway); pid before
// cgroup so that both apply to the forked container process. New ones are
// made in the same order: a new user namespace on its own, first (see
// nsenter.Request), the rest in one unshare.
var nsKinds = []struct {
	typ  specs.LinuxNamespaceType
	flag uintptr
	proc string
}{
	{specs.UserNamespace, unix.CLONE_NEWUSER, "user"},
	{specs.IPCNamespace, unix.CLONE_NEWIPC, "ipc"},
	{specs.UTSNamespace, unix.CLONE_NEWUTS, "uts"},
	{specs.NetworkNamespace, unix.CLONE_NEWNET, "net"},
	{specs.PIDNamespace, unix.CLONE_NEWPID, "pid"},
	{specs.CgroupNamespace, unix.CLONE_NEWCGROUP, "cgroup"},
	{specs.TimeNamespace, unix.CLONE_NEWTIME, "time"},
	{specs.MountNamespace, unix.CLONE_NEWNS, "mnt"},
}

// nsPlan is what the constructor must do for a new init process.
type nsPlan struct {
	newFlags uintptr
	join     []string
	userNS   nsenter.UserNS
	fork     bool
	// maps are the spec's id mappings: written for a new user namespace,
	// compared with a joined one's; nil without mappings.
	maps *nsenter.Maps
	// timeOffsets are written for a new time namespace.
	timeOffsets string
}

// planNamespaces maps the spec's namespaces to new ones to unshare and paths
// to join. A pid namespace, new or joined, needs a fork because it applies
// only to children of the process that entered it; so does a new time
// namespace.
func planNamespaces(l *linuxView) (nsPlan, error) {
	var p nsPlan
	nss := l.Namespaces
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
			return p, fmt.Errorf("namespace %q: %w", t, errdefs.ErrNotImplemented)
		}
	}
	if err := l.checkUserTime(); err != nil {
		return p, err
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
		} else if k.typ != specs.UserNamespace {
			p.newFlags |= k.flag
		}
		switch k.typ {
		case specs.PIDNamespace:
			p.fork = true
		case specs.TimeNamespace:
			p.fork = p.fork || ns.Path == ""
		case specs.UserNamespace:
			p.userNS = nsenter.JoinUserNS
			if ns.Path == "" {
				p.userNS = nsenter.NewUserNS
			}
			if p.userNS == nsenter.NewUserNS || len(l.UIDMappings) > 0 {
				m, err := userMaps(l)
				if err != nil {
					return p, err
				}
				p.maps = &m
			}
		}
	}
	if p.newFlags&unix.CLONE_NEWTIME != 0 {
		off, err := formatTimeOffsets(l.TimeOffsets)
		if err != nil {
			return p, err
		}
		p.timeOffsets = off
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
// The user and time namespaces only if the container has its own: the
// kernel refuses to "join" the user namespace one is already in.
func execJoinPaths(initPid int, userNS, timeNS bool) []string {
	paths := make([]string, 0, len(nsKinds))
	for _, k := range nsKinds {
		if (k.typ == specs.UserNamespace && !userNS) || (k.typ == specs.TimeNamespace && !timeNS) {
			continue
		}
		paths = append(paths, fmt.Sprintf("/proc/%d/ns/%s", initPid, k.proc))
	}
	return paths
}
