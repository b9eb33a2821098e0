package mount

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// busyWait bounds how long UnmountRecursive waits out EBUSY: at delete the
// container's processes are gone, but their last references may not be yet.
const busyWait = 2500 * time.Millisecond

// UnmountRecursive unmounts target and every mount below it, deepest first;
// a target that is not a mount point or does not exist is not an error.
func UnmountRecursive(target string) error {
	if target == "" {
		return nil
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	// mountinfo lists mount points with symlinks resolved.
	root, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if root == "/" {
		return fmt.Errorf("unmount everything below /: %w", errdefs.ErrInvalidArgument)
	}

	deadline := time.Now().Add(busyWait)
	// Mounts stacked on one point, or a mount hiding another's mount point,
	// only come off one layer at a time: read the table again after every
	// pass until a pass finds nothing or gets nothing done.
	for {
		points, err := mountPointsUnder(root)
		if err != nil {
			return err
		}
		if len(points) == 0 {
			return nil
		}
		var errs []error
		progress := false
		for _, p := range points {
			err := unmountOne(p, deadline)
			switch {
			case err == nil:
				progress = true
			case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
				// Hidden under a mount stacked above it, or gone with
				// its parent: the next pass sees the truth.
			default:
				errs = append(errs, newError("unmount", Mount{}, p, err))
			}
		}
		if !progress {
			if len(errs) == 0 {
				return fmt.Errorf("unmount %q: still mounted: %s", root, strings.Join(points, ", "))
			}
			return errors.Join(errs...)
		}
	}
}

// mountPointsUnder lists the distinct mount points at and below root,
// deepest first: a child's path is always longer than its parent's.
func mountPointsUnder(root string) ([]string, error) {
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(root))
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	points := make([]string, 0, len(infos))
	for _, m := range infos {
		points = append(points, m.Mountpoint)
	}
	slices.SortFunc(points, func(a, b string) int {
		if d := len(b) - len(a); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(points), nil
}

// unmountOne takes the top mount off p, retrying while it is busy.
// UMOUNT_NOFOLLOW: p comes from the mount table, and a symlink there now
// would point somewhere else.
func unmountOne(p string, deadline time.Time) error {
	for {
		err := unix.Unmount(p, unix.UMOUNT_NOFOLLOW)
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
