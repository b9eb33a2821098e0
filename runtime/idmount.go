package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	idmapping "github.com/raind/raind/runtime/idmap"
)

// Id-mapped mounts (runtime-spec 1.2: a mount's uidMappings and
// gidMappings, its "idmap" and "ridmap" options) are made here, on the
// creating side: the kernel lets only CAP_SYS_ADMIN over a filesystem's
// superblock, which for a host filesystem is the host's root, idmap a
// mount of it, and the init runs inside the container's user namespace.
// Each becomes a detached mount tree (package idmap) that the init gets as
// a file and moves onto the mount's destination (rootfs.Options.MountFDs).
//
// The mappings are written as they come, "containerID hostID size", into
// a user namespace of their own: an id k stored on disk shows in the
// container as whatever the host id mapped from k is in the container's
// user namespace. A mount with "idmap" or "ridmap" and no mappings takes
// the container's user namespace: its spec mappings, or the namespace it
// joins.

// idMapOption reports whether a mount asks for an id mapping by option,
// and whether recursively ("ridmap").
func idMapOption(options []string) (idmapped, recursive bool) {
	for _, o := range options {
		switch o {
		case "idmap":
			idmapped = true
		case "ridmap":
			idmapped, recursive = true, true
		}
	}
	return idmapped, recursive
}

func (m *mountView) idMapped() bool {
	opt, _ := idMapOption(m.Options)
	return opt || len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0
}

// checkIDMapMounts checks the id-mapped mounts of a spec the way the
// kernel and the runtime-spec will, each error naming the mount.
func (v *specView) checkIDMapMounts() error {
	var userNS bool
	if v.Linux != nil {
		userNS = hasNamespace(v.Linux.Namespaces, specs.UserNamespace)
	}
	for i, m := range v.Mounts {
		if !m.idMapped() {
			continue
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("mounts[%d] (%s): id-mapped mount: %s: %w", i, m.Destination, fmt.Sprintf(format, a...), errdefs.ErrInvalidArgument)
		}
		if !isBindMount(m.Type, m.Options) {
			// open_tree clones an existing tree; a new filesystem would
			// need its own mount context, which runc does not offer either.
			return bad("only bind mounts can be id-mapped (type %q)", m.Type)
		}
		switch {
		case len(m.UIDMappings) == 0 && len(m.GIDMappings) == 0:
			if !userNS {
				return bad("idmap without uidMappings and gidMappings needs the container's user namespace, and it has none")
			}
		case len(m.UIDMappings) == 0 || len(m.GIDMappings) == 0:
			return bad("uidMappings and gidMappings go together")
		default:
			if err := checkMountIDMap(fmt.Sprintf("mounts[%d].uidMappings", i), m.UIDMappings); err != nil {
				return err
			}
			if err := checkMountIDMap(fmt.Sprintf("mounts[%d].gidMappings", i), m.GIDMappings); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkMountIDMap checks a mount's mappings as the kernel will take them
// into the map files of the user namespace they make. Unlike a
// container's (formatIDMap), id 0 need not be mapped: nothing runs as root
// of a mount's namespace, and mapping one user's files is common.
func checkMountIDMap(field string, ms []specs.LinuxIDMapping) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, a...), errdefs.ErrInvalidArgument)
	}
	if len(ms) > maxIDMapLines {
		return bad("%d mappings; the kernel takes at most %d", len(ms), maxIDMapLines)
	}
	for i, m := range ms {
		if m.Size == 0 {
			return bad("mapping %d has size 0", i)
		}
		if uint64(m.ContainerID)+uint64(m.Size) > maxID || uint64(m.HostID)+uint64(m.Size) > maxID {
			return bad("mapping %d (%d %d %d) goes past the last id", i, m.ContainerID, m.HostID, m.Size)
		}
		for j, o := range ms[:i] {
			if overlaps(m.ContainerID, o.ContainerID, m.Size, o.Size) {
				return bad("mappings %d and %d overlap on the mount's side", j, i)
			}
			if overlaps(m.HostID, o.HostID, m.Size, o.Size) {
				return bad("mappings %d and %d overlap on the host", j, i)
			}
		}
	}
	return nil
}

func isBindMount(typ string, options []string) bool {
	if typ == "bind" {
		return true
	}
	for _, o := range options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// mountTrees makes, by mount index, the detached trees the init attaches
// instead of mounting: the id-mapped mounts; and, for a container in a
// user namespace, every other bind of an absolute host path too. Its init
// is a stranger to the host's files: it could not reach a source under a
// directory closed to others (containerd's state, where CRI keeps a pod's
// /dev/shm and /etc/hosts), which the creating side, the host's root, can.
// The caller closes them (closeFiles) once the init has its copies. User
// namespaces of equal mappings are made once.
func mountTrees(v *specView, m Monitor) (_ map[int]*os.File, retErr error) {
	trees := map[int]*os.File{}
	namespaces := map[string]*os.File{}
	defer func() {
		for _, ns := range namespaces {
			ns.Close()
		}
		if retErr != nil {
			closeFiles(trees)
		}
	}()
	userNS := v.Linux != nil && hasNamespace(v.Linux.Namespaces, specs.UserNamespace)
	for i, mnt := range v.Mounts {
		var tree *os.File
		var err error
		switch {
		case mnt.idMapped():
			var ns *os.File
			ns, err = mountUserNS(v, mnt, namespaces, starter(m))
			if err == nil {
				_, mapAll := idMapOption(mnt.Options)
				tree, err = idmapping.Clone(mnt.Source, isRecursiveBind(mnt.Options), mapAll, ns)
			}
		case userNS && isBindMount(mnt.Type, mnt.Options) && filepath.IsAbs(mnt.Source):
			tree, err = idmapping.Detached(mnt.Source, isRecursiveBind(mnt.Options))
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("mounts[%d] (%s): %w", i, mnt.Destination, err)
		}
		trees[i] = tree
	}
	return trees, nil
}

// mountUserNS returns the user namespace mount m maps through, made or
// opened once per distinct mapping (kept in made, keyed by it).
func mountUserNS(v *specView, m mountView, made map[string]*os.File, start idmapping.Starter) (*os.File, error) {
	uid, gid := m.UIDMappings, m.GIDMappings
	if len(uid) == 0 && len(gid) == 0 {
		// The container's own: the one it joins, or its spec mappings.
		for _, ns := range v.Linux.Namespaces {
			if ns.Type == specs.UserNamespace && ns.Path != "" && len(v.Linux.UIDMappings) == 0 {
				if f, ok := made["path:"+ns.Path]; ok {
					return f, nil
				}
				f, err := os.Open(ns.Path)
				if err != nil {
					return nil, fmt.Errorf("open the user namespace %s to id-map with: %w", ns.Path, errdefs.ErrNotFound)
				}
				made["path:"+ns.Path] = f
				return f, nil
			}
		}
		uid, gid = v.Linux.UIDMappings, v.Linux.GIDMappings
	}
	key := fmt.Sprint(uid, gid)
	if f, ok := made[key]; ok {
		return f, nil
	}
	f, err := idmapping.UserNS(uid, gid, start)
	if err != nil {
		return nil, err
	}
	made[key] = f
	return f, nil
}

// starter starts the holder of a mount's mapping through the monitor, so
// that the shim's reaper hands its exit to us rather than swallow it.
func starter(m Monitor) idmapping.Starter {
	if m == nil {
		return nil
	}
	return func(cmd *exec.Cmd) (func() error, error) {
		ec, err := m.Start(cmd)
		if err != nil {
			return nil, err
		}
		return func() error {
			_, err := m.Wait(cmd, ec)
			return err
		}, nil
	}
}

func isRecursiveBind(options []string) bool {
	for _, o := range options {
		if o == "rbind" {
			return true
		}
	}
	return false
}

func closeFiles(fs map[int]*os.File) error {
	var errs []error
	for _, f := range fs {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// appendMountTrees passes trees to the child after the files it already
// gets, and tells it where each one is (initConfig.MountFDs): the child's
// fd n is extra[n-3].
func appendMountTrees(extra []*os.File, trees map[int]*os.File, cfg *initConfig) []*os.File {
	if len(trees) == 0 {
		return extra
	}
	cfg.MountFDs = make(map[int]int, len(trees))
	for i, f := range trees {
		cfg.MountFDs[i] = 3 + len(extra)
		extra = append(extra, f)
	}
	return extra
}
