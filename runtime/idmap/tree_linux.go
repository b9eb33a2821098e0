package idmap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Clone returns a detached copy of the mount tree at source (only the mount
// there, or with recursive every mount below it too, as a bind or an rbind
// would take) whose ids are mapped through userns: an inode owned by id k
// on disk shows as the host id userns maps k to, and a file made through
// it by host id h is stored as the id userns maps to h. mapAll applies the
// mapping to every mount of a recursive copy ("ridmap"); otherwise only the
// top one is mapped ("idmap").
//
// Where the kernel cannot (no mount_setattr) or the filesystem will not
// (one without FS_ALLOW_IDMAP gives EINVAL) the error is
// errdefs.ErrNotImplemented naming which.
func Clone(source string, recursive, mapAll bool, userns *os.File) (*os.File, error) {
	tree, err := Detached(source, recursive)
	if err != nil {
		return nil, err
	}
	fd := int(tree.Fd())
	setFlags := uint(unix.AT_EMPTY_PATH)
	if recursive && mapAll {
		setFlags |= unix.AT_RECURSIVE
	}
	err = unix.MountSetattr(fd, "", setFlags, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())})
	if err != nil {
		tree.Close()
		return nil, setattrError(source, err)
	}
	return tree, nil
}

// Detached returns a detached copy of the mount tree at source, as a bind
// (or with recursive an rbind) would take it, unmapped: for a process that
// cannot reach source itself (a container's init in its user namespace,
// under a host directory closed to others) to attach.
func Detached(source string, recursive bool) (*os.File, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, source, flags)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) {
			return nil, fmt.Errorf("detached mount of %s: the kernel has no open_tree(2) (Linux 5.2): %w", source, errdefs.ErrNotImplemented)
		}
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("clone mount tree %s: %w: %w", source, err, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("clone mount tree %s: %w", source, err)
	}
	return os.NewFile(uintptr(fd), source), nil
}

// setattrError says why mount_setattr refused to idmap source.
func setattrError(source string, err error) error {
	switch {
	case errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("id-mapped mount of %s: the kernel has no mount_setattr(2) (Linux 5.12): %w", source, errdefs.ErrNotImplemented)
	case errors.Is(err, unix.EINVAL):
		// EINVAL also comes from a kernel that knows mount_setattr but
		// not MOUNT_ATTR_IDMAP, which says "5.12" all the same.
		return fmt.Errorf("id-mapped mount of %s: filesystem %s does not support id-mapped mounts on this kernel (%s): %w",
			source, fsType(source), kernelRelease(), errdefs.ErrNotImplemented)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("id-mapped mount of %s (filesystem %s): %w: %w", source, fsType(source), err, errdefs.ErrPermissionDenied)
	}
	return fmt.Errorf("id-mapped mount of %s: mount_setattr(MOUNT_ATTR_IDMAP): %w", source, err)
}

// fsType names the filesystem path is on, from the mount table: the
// mount whose mount point is the longest prefix of path.
func fsType(path string) string {
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		p = path
	}
	ms, err := mountinfo.GetMounts(mountinfo.ParentsFilter(p))
	if err != nil || len(ms) == 0 {
		return "(unknown)"
	}
	best := ms[0]
	for _, m := range ms[1:] {
		// Of mounts on the same point the last one listed is on top.
		if len(m.Mountpoint) >= len(best.Mountpoint) {
			best = m
		}
	}
	return fmt.Sprintf("%q", best.FSType)
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown kernel"
	}
	return "Linux " + unix.ByteSliceToString(u.Release[:])
}
