package rootfs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// TreeMover is what a Syscalls implements to attach detached mount trees
// (Options.MountFDs). It is an interface of its own so that fakes without
// trees need not implement it.
type TreeMover interface {
	// MoveTree attaches the detached mount tree fd on target
	// (move_mount(2)); CloseFD releases it.
	MoveTree(fd int, target string) error
	// TreeIsDir reports whether the tree's root is a directory (else a
	// file is bound).
	TreeIsDir(fd int) (bool, error)
}

func (linux) TreeIsDir(fd int) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, fmt.Errorf("stat mount tree: %w", err)
	}
	return st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

// MoveTree attaches fd onto the inode target names now (see pin).
func (linux) MoveTree(fd int, target string) error {
	pfd, name, err := pin(target)
	if err != nil {
		return err
	}
	if pfd < 0 {
		return unix.MoveMount(fd, "", unix.AT_FDCWD, name, unix.MOVE_MOUNT_F_EMPTY_PATH)
	}
	defer unix.Close(pfd)
	if err := unix.MoveMount(fd, "", pfd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount onto %s: %w", target, err)
	}
	return nil
}

// closeTrees releases the trees Setup was given, attached or not: an
// attached one stays mounted, one never attached is unmounted with its
// last file.
func closeTrees(sys Syscalls, fds map[int]int) {
	for _, fd := range fds {
		_ = sys.CloseFD(fd)
	}
}
