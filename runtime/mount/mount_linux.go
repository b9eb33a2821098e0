package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// Mount is one mount of a container's rootfs, as containerd's task Create
// request carries it.
type Mount struct {
	Type, Source, Target string
	Options              []string
}

// All mounts ms in order on target (Target, when set, is a path under
// target). On error, what it already mounted is unmounted again.
func All(ms []Mount, target string) (retErr error) {
	// Refuse what cannot be done before mounting anything, so that an
	// unsupported option never costs a mount and its undoing.
	parsed := make([]options, len(ms))
	for i, m := range ms {
		if err := refusedType(m.Type); err != nil {
			return err
		}
		o, err := parseOptions(m.Options)
		if err == nil {
			err = o.idmap.check(m.Type, o.flags)
		}
		if err != nil {
			return fmt.Errorf("mount type=%s source=%q: %w", m.Type, m.Source, err)
		}
		parsed[i] = o
	}

	var mounted []string
	defer func() {
		if retErr == nil {
			return
		}
		if err := undo(mounted); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()
	for i, m := range ms {
		point, err := resolveTarget(target, m)
		if err != nil {
			return err
		}
		created, err := mountOne(m, parsed[i], point)
		if created {
			mounted = append(mounted, point)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// undo detaches, last first, the mounts All made. MNT_DETACH because an
// rbind carries submounts a plain umount would refuse, and nothing can be
// using a mount that was never handed out.
func undo(points []string) error {
	var errs []error
	for i := len(points) - 1; i >= 0; i-- {
		if err := unix.Unmount(points[i], unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("undo mount on %q: %w", points[i], err))
		}
	}
	return errors.Join(errs...)
}

// mountOne performs one mount on point. created reports whether a new mount
// now sits on point (a remount creates none), so that All can undo it even
// when a later step of the same mount failed.
func mountOne(m Mount, o options, point string) (created bool, err error) {
	flags := o.flags
	if m.Type == "bind" {
		flags |= unix.MS_BIND
	}
	remount := flags&unix.MS_REMOUNT != 0
	bind := flags&unix.MS_BIND != 0
	if o.idmap.mapped() && m.Type == "overlay" && !bind && !remount {
		mapped, release, err := idMappedLowers(m, o, point)
		if err != nil {
			return false, err
		}
		defer func() {
			if rerr := release(); rerr != nil && err == nil {
				err = newError("release id-mapped layers of", m, point, rerr)
			}
		}()
		o.data = mapped
	}
	data := strings.Join(o.data, ",")

	switch pagesize := os.Getpagesize(); {
	case o.idmap.mapped() && bind:
		if remount {
			return false, newError("mount", m, point, fmt.Errorf("an id-mapped remount: %w", errdefs.ErrNotImplemented))
		}
		if err := idMappedBind(m, o, point); err != nil {
			return false, err
		}
	case len(data) < pagesize:
		if err := unix.Mount(m.Source, point, m.Type, flags, data); err != nil {
			return false, newError("mount", m, point, err)
		}
	case m.Type == "overlay" && !bind && !remount:
		if err := mountLongOverlay(m, flags, point, data); err != nil {
			return false, err
		}
	default:
		// The kernel copies one page of data and silently cuts the rest.
		err := fmt.Errorf("%d bytes of options, the kernel takes fewer than %d", len(data), pagesize)
		return false, &mountError{op: "mount", m: m, target: point, err: err, kind: errdefs.ErrInvalidArgument}
	}
	created = !remount

	// A bind's first call ignores every flag but MS_REC; the flags asked for
	// need a remount. A remount asked for by the options was that call.
	if bind && !remount && flags&perMountFlags != 0 {
		if err := remountBind(point, flags&perMountFlags); err != nil {
			return created, newError("remount bind", m, point, err)
		}
	}
	if o.recursiveRO {
		if err := recursiveReadonly(point); err != nil {
			return created, newError("make recursively read-only", m, point, err)
		}
	}
	for _, p := range o.propagation {
		if err := unix.Mount("", point, "", p, ""); err != nil {
			return created, newError("set propagation of", m, point, err)
		}
	}
	return created, nil
}

// recursiveReadonly applies "rro": the mount at point and every mount below
// it become read-only (mount_setattr(2), Linux 5.12).
func recursiveReadonly(point string) error {
	return unix.MountSetattr(unix.AT_FDCWD, point, unix.AT_RECURSIVE|unix.AT_SYMLINK_NOFOLLOW,
		&unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
}

// stNoSymfollow is statfs's ST_NOSYMFOLLOW (Linux 5.10), missing from x/sys.
const stNoSymfollow = 0x2000

// remountBind applies per-mount flags to a fresh bind mount. EPERM means the
// source mount came from a more privileged mount namespace (a rootless
// containerd's shim runs in a user namespace) and some of its flags are
// locked: ask again keeping the flags it has, and its atime mode, which a
// remount naming none preserves.
func remountBind(point string, flags uintptr) error {
	const base = unix.MS_REMOUNT | unix.MS_BIND
	err := unix.Mount("", point, "", base|flags, "")
	if !errors.Is(err, unix.EPERM) {
		return err
	}
	var st unix.Statfs_t
	if unix.Statfs(point, &st) != nil {
		return err
	}
	flags &^= unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME
	// statfs reports flags with ST_ values, which are not all the MS_ ones.
	for _, f := range [...]struct {
		st int64
		ms uintptr
	}{
		{unix.ST_RDONLY, unix.MS_RDONLY}, {unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {stNoSymfollow, unix.MS_NOSYMFOLLOW},
	} {
		if st.Flags&f.st != 0 {
			flags |= f.ms
		}
	}
	return unix.Mount("", point, "", base|flags, "")
}

// resolveTarget returns the mount point for a mount's Target under root,
// following symlinks as if root were "/", so that a link in an image cannot
// send a mount outside the rootfs.
func resolveTarget(root string, m Mount) (string, error) {
	sub := m.Target
	if sub == "" || filepath.Clean("/"+sub) == "/" {
		return root, nil
	}
	fail := func(err error) (string, error) {
		return "", newError("resolve target of mount", m, filepath.Join(root, sub), err)
	}
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(dir)
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(dir, sub, how)
	// EAGAIN: a rename or mount raced a ".." walk; the kernel asks to retry.
	for try := 0; errors.Is(err, unix.EAGAIN) && try < 8; try++ {
		fd, err = unix.Openat2(dir, sub, how)
	}
	if err != nil {
		return fail(err)
	}
	defer unix.Close(fd)
	// thread-self: the path as this thread's root and mount namespace see it.
	p, err := os.Readlink("/proc/thread-self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return fail(err)
	}
	return p, nil
}

// mountError is a failed mount or unmount step. It unwraps to the cause
// (usually an errno) and, where one fits, to an errdefs kind, so callers can
// both report the syscall's answer and classify it.
type mountError struct {
	op     string
	m      Mount // Type and Source name the mount in the message
	target string
	err    error
	// detail is what the kernel logged on a new-mount-API descriptor: the
	// only place it says which parameter it refused.
	detail string
	kind   error
}

func newError(op string, m Mount, target string, err error) *mountError {
	return &mountError{op: op, m: m, target: target, err: err, kind: kindOf(err)}
}

func (e *mountError) Error() string {
	var b strings.Builder
	b.WriteString(e.op)
	if e.m.Type != "" {
		b.WriteString(" type=" + e.m.Type)
	}
	if e.m.Source != "" {
		b.WriteString(" source=" + strconv.Quote(e.m.Source))
	}
	b.WriteString(" target=" + strconv.Quote(e.target) + ": ")
	var errno unix.Errno
	switch {
	case errors.As(e.err, &errno) && errno != 0:
		b.WriteString(unix.ErrnoName(errno) + " (" + errno.Error() + ")")
		if e.err != error(errno) {
			b.WriteString(": " + e.err.Error())
		}
	case e.err != nil:
		b.WriteString(e.err.Error())
	}
	if e.detail != "" {
		b.WriteString(": " + e.detail)
	}
	return b.String()
}

func (e *mountError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.err, e.kind}
}

func kindOf(err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return errdefs.ErrNotFound
	case errors.Is(err, unix.EINVAL):
		return errdefs.ErrInvalidArgument
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return errdefs.ErrPermissionDenied
	}
	return nil
}
