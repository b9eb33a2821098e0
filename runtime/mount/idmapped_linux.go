package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/raind/raind/runtime/idmap"
)

// containerd's snapshotters ask for an id-mapped root (a user-namespaced
// container, the overlay snapshotter's "remap-ids" capability) with the
// options uidmap= and gidmap=, each "containerID:hostID:size[,...]": the
// image's files, stored with the image's ids, must show as the host ids
// of the container's user namespace. For an overlay the lower layers are
// what is mapped (the snapshotter chowns the upper directory itself); a
// bind is mapped as a whole.

// idMapping is a mount's uidmap= and gidmap= options, parsed.
type idMapping struct {
	uid, gid []specs.LinuxIDMapping
}

// parseIDMapOption takes o into m if it is uidmap= or gidmap=.
func parseIDMapOption(o string, m *idMapping) (bool, error) {
	var dst *[]specs.LinuxIDMapping
	v, ok := strings.CutPrefix(o, "uidmap=")
	if ok {
		dst = &m.uid
	} else if v, ok = strings.CutPrefix(o, "gidmap="); ok {
		dst = &m.gid
	} else {
		return false, nil
	}
	if *dst != nil {
		return true, fmt.Errorf("option %q: given twice: %w", o, errdefs.ErrInvalidArgument)
	}
	for _, r := range strings.Split(v, ",") {
		parts := strings.Split(r, ":")
		if len(parts) != 3 {
			return true, fmt.Errorf("option %q: %q is not containerID:hostID:size: %w", o, r, errdefs.ErrInvalidArgument)
		}
		var n [3]uint32
		for i, p := range parts {
			x, err := strconv.ParseUint(p, 10, 32)
			if err != nil {
				return true, fmt.Errorf("option %q: %q: %v: %w", o, r, err, errdefs.ErrInvalidArgument)
			}
			n[i] = uint32(x)
		}
		if n[2] == 0 {
			return true, fmt.Errorf("option %q: %q has size 0: %w", o, r, errdefs.ErrInvalidArgument)
		}
		*dst = append(*dst, specs.LinuxIDMapping{ContainerID: n[0], HostID: n[1], Size: n[2]})
	}
	return true, nil
}

// check refuses a mapping the kernel cannot apply to a mount of typ.
func (m *idMapping) check(typ string, flags uintptr) error {
	if m.uid == nil && m.gid == nil {
		return nil
	}
	if m.uid == nil || m.gid == nil {
		return fmt.Errorf("uidmap= and gidmap= go together: %w", errdefs.ErrInvalidArgument)
	}
	if typ != "overlay" && flags&unix.MS_BIND == 0 {
		return fmt.Errorf("uidmap=/gidmap= on a %s mount: only overlay and bind mounts can be id-mapped: %w", typ, errdefs.ErrNotImplemented)
	}
	return nil
}

// mapped reports whether the mount asked for an id mapping.
func (m *idMapping) mapped() bool { return m.uid != nil }

// idMappedBind mounts an id-mapped clone of m.Source on point.
func idMappedBind(m Mount, o options, point string) error {
	ns, err := idmap.UserNS(o.idmap.uid, o.idmap.gid, nil)
	if err != nil {
		return newError("id-map", m, point, err)
	}
	defer ns.Close()
	tree, err := idmap.Clone(m.Source, o.flags&unix.MS_REC != 0, true, ns)
	if err != nil {
		return newError("id-map", m, point, err)
	}
	defer tree.Close()
	if err := unix.MoveMount(int(tree.Fd()), "", unix.AT_FDCWD, point, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return newError("attach id-mapped", m, point, err)
	}
	return nil
}

// idMappedLowers gives an overlay's lower layers through an id-mapped,
// read-only clone of the directory that holds them all, attached next to
// point for as long as the overlay takes to mount (overlay keeps its own
// references to the layers): it returns the options with the lowerdir
// rewritten, and the release of the clone.
func idMappedLowers(m Mount, o options, point string) (_ []string, release func() error, retErr error) {
	i := lastLowerdir(o.data)
	if i < 0 {
		return nil, nil, newError("id-map", m, point, fmt.Errorf("an id-mapped overlay without lowerdir: %w", errdefs.ErrInvalidArgument))
	}
	layers, err := splitLowerdir(strings.TrimPrefix(o.data[i], "lowerdir="))
	if err != nil {
		return nil, nil, newError("id-map", m, point, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument))
	}
	parent, rel, err := relativeLayers(layers)
	if err != nil {
		return nil, nil, newError("id-map", m, point, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument))
	}
	ns, err := idmap.UserNS(o.idmap.uid, o.idmap.gid, nil)
	if err != nil {
		return nil, nil, newError("id-map", m, point, err)
	}
	defer ns.Close()
	tree, err := idmap.Clone(parent, true, true, ns)
	if err != nil {
		return nil, nil, newError("id-map", m, point, err)
	}
	defer tree.Close()
	// Layers are only read through it.
	if err := unix.MountSetattr(int(tree.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE,
		&unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return nil, nil, newError("make read-only the id-mapped layers of", m, point, err)
	}
	dir, err := os.MkdirTemp(filepath.Dir(point), ".idmapped-layers-")
	if err != nil {
		return nil, nil, newError("id-map", m, point, err)
	}
	release = func() error {
		var errs []error
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount id-mapped layers %s: %w", dir, err))
		}
		if err := os.Remove(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
		}
		return errors.Join(errs...)
	}
	defer func() {
		if retErr != nil {
			_ = release()
		}
	}()
	if err := unix.MoveMount(int(tree.Fd()), "", unix.AT_FDCWD, dir, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return nil, nil, newError("attach id-mapped layers of", m, dir, err)
	}
	mapped := make([]layer, len(rel))
	for j, l := range rel {
		mapped[j] = layer{path: filepath.Join(dir, l.path), data: l.data}
	}
	data := append([]string(nil), o.data...)
	data[i] = "lowerdir=" + joinLayers(mapped)
	return data, release, nil
}
