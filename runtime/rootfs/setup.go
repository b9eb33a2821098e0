package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Options change how the root is switched.
type Options struct {
	// NoPivot uses MS_MOVE and chroot even where pivot_root would work.
	NoPivot bool
	// BeforeSwitch runs once every mount and /dev are in place, just
	// before the root switch, while the host's tree is still reachable:
	// that is where the createRuntime and createContainer hooks run.
	BeforeSwitch func() error
	// AfterSwitch runs in the new root before it is made read-only: where
	// runc sets up the console, which may need to create /dev/console.
	AfterSwitch func() error
	// MountFDs are detached mount trees (id-mapped binds made outside
	// the container, see runtime/idmap) by index in spec.Mounts: such a
	// mount is the tree moved onto its destination instead of a bind of
	// its source. Setup closes them.
	MountFDs map[int]int
}

// Setup prepares rootfs for spec and makes it the root of this mount
// namespace, read-only if the spec says so. rootfs is an absolute host
// path. Masked and read-only paths come later, from ProtectPaths, because
// sysctls are written between the two (runc's order, which Kubernetes'
// per-pod sysctls rely on: /proc/sys is one of the read-only paths).
func Setup(sys Syscalls, spec *specs.Spec, rootfs string, opts Options) error {
	if !filepath.IsAbs(rootfs) {
		return fmt.Errorf("rootfs %q is not absolute", rootfs)
	}
	// Mount targets are checked against the kernel's own names for them,
	// which never contain symlinks; so neither may rootfs.
	resolved, err := securejoin.SecureJoinVFS("/", rootfs, sys)
	if err != nil {
		return fmt.Errorf("resolve rootfs %s: %w", rootfs, err)
	}
	rootfs = resolved
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if spec.Linux != nil && spec.Linux.RootfsPropagation != "" {
		p, ok := propagationFlags[spec.Linux.RootfsPropagation]
		if !ok {
			return fmt.Errorf("unknown rootfsPropagation %q", spec.Linux.RootfsPropagation)
		}
		prop = p
	}
	// Nothing the container mounts may travel back to the host.
	if err := sys.Mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("set propagation of /: %w", err)
	}
	// pivot_root and MS_MOVE refuse a new root whose parent mount is
	// shared, as it is after "rshared"; and a bind of rootfs under a
	// shared parent would appear on the host. So the parent becomes
	// private here (slave stays slave), in this namespace only; a shared
	// root is made shared again once it is the root.
	if err := parentMountPropagation(sys, rootfs, prop); err != nil {
		return err
	}
	// pivot_root needs the new root to be a mount point.
	if err := sys.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s: %w", rootfs, err)
	}
	devMounted := false
	ptsMounted := false
	label := mountLabel(spec)
	cgroupNS := false
	userNS := false
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			cgroupNS = cgroupNS || ns.Type == specs.CgroupNamespace
			userNS = userNS || ns.Type == specs.UserNamespace
		}
	}
	defer closeTrees(sys, opts.MountFDs)
	for i, m := range spec.Mounts {
		tree, ok := opts.MountFDs[i]
		if !ok {
			tree = -1
		}
		if err := mountOne(sys, rootfs, m, label, cgroupNS, tree); err != nil {
			return err
		}
		switch filepath.Clean(m.Destination) {
		case "/dev":
			devMounted = true
		case "/dev/pts":
			ptsMounted = true
		}
	}
	if err := setupDev(sys, spec, rootfs, devMounted, ptsMounted, userNS); err != nil {
		return err
	}
	if opts.BeforeSwitch != nil {
		if err := opts.BeforeSwitch(); err != nil {
			return err
		}
	}
	if err := switchRoot(sys, rootfs, opts.NoPivot); err != nil {
		return err
	}
	// On the root itself now, so that it never reaches the host's mounts.
	if prop&(unix.MS_PRIVATE|unix.MS_SLAVE) == 0 {
		if err := sys.Mount("", "/", "", prop, ""); err != nil {
			return fmt.Errorf("set propagation of the new root: %w", err)
		}
	}
	if opts.AfterSwitch != nil {
		if err := opts.AfterSwitch(); err != nil {
			return err
		}
	}
	if spec.Root != nil && spec.Root.Readonly {
		flags, err := sys.MountFlags("/")
		if err != nil {
			return fmt.Errorf("read-only root: %w", err)
		}
		if err := sys.Mount("", "/", "", flags|unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("remount root read-only: %w", err)
		}
	}
	return sys.Chdir("/")
}

// ProtectPaths makes the spec's read-only paths read-only and then masks
// its masked paths, inside the container's root: the last step of the
// file system set-up, after sysctls are written.
func ProtectPaths(sys Syscalls, spec *specs.Spec) error {
	if spec.Linux == nil {
		return nil
	}
	for _, p := range spec.Linux.ReadonlyPaths {
		if err := readonlyPath(sys, inRoot(sys, p)); err != nil {
			return err
		}
	}
	label := mountLabel(spec)
	// The null device is opened and checked once, when a file is first
	// to be masked (see Syscalls.DevNull).
	var null string
	releaseNull := func() {}
	defer func() { releaseNull() }()
	devNull := func() (string, error) {
		if null != "" {
			return null, nil
		}
		src, release, err := sys.DevNull()
		if err != nil {
			return "", err
		}
		null, releaseNull = src, release
		return src, nil
	}
	for _, p := range spec.Linux.MaskedPaths {
		if err := maskPath(sys, inRoot(sys, p), label, devNull); err != nil {
			return err
		}
	}
	return nil
}

// parentMountPropagation makes the mount that holds rootfs private, or
// slave if the root's propagation is a slave one. mount(2) says EINVAL
// for a path that is not a mount point, so it walks up to the one that is.
func parentMountPropagation(sys Syscalls, rootfs string, prop uintptr) error {
	flags := uintptr(unix.MS_PRIVATE)
	if prop&unix.MS_SLAVE != 0 {
		flags = unix.MS_SLAVE
	}
	for p := rootfs; ; p = filepath.Dir(p) {
		err := sys.Mount("", p, "", flags, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || p == "/" {
			return fmt.Errorf("set propagation of %s, the mount holding the rootfs: %w", p, err)
		}
	}
}

// target resolves a path inside rootfs as if rootfs were /, so that a
// symlink in the image such as /data -> /etc cannot aim at the host. It is
// for /dev entries, which live on the tmpfs this namespace just mounted
// and nothing else can reach; mount targets go through PrepareTarget.
func target(sys Syscalls, rootfs, dest string) (string, error) {
	p, err := securejoin.SecureJoinVFS(rootfs, filepath.Clean("/"+dest), sys)
	if err != nil {
		return "", fmt.Errorf("resolve %s in rootfs: %w", dest, err)
	}
	return p, nil
}

// inRoot resolves a path after the root switch. Symlinks can no longer
// leave the container there, but resolving them first lets Mount check
// the target against the kernel's symlink-free name for it.
func inRoot(sys Syscalls, p string) string {
	r, err := securejoin.SecureJoinVFS("/", p, sys)
	if err != nil {
		return filepath.Clean("/" + p)
	}
	return r
}

func mountOne(sys Syscalls, rootfs string, m specs.Mount, label string, cgroupNS bool, tree int) error {
	fail := func(err error) error {
		return fmt.Errorf("mount %s (type %q, source %q): %w", m.Destination, m.Type, m.Source, err)
	}
	if !filepath.IsAbs(m.Destination) {
		return fail(fmt.Errorf("destination is not absolute: %w", errdefs.ErrInvalidArgument))
	}
	opts := ParseMountOptions(m.Options)
	if isBind(m.Type, m.Options) {
		return bindMount(sys, m, rootfs, opts, fail, tree)
	}
	if tree >= 0 {
		return fail(fmt.Errorf("a mount tree was made for a mount that is not a bind: %w", errdefs.ErrInvalidArgument))
	}
	dest, err := sys.PrepareTarget(rootfs, m.Destination, false)
	if err != nil {
		return fail(err)
	}
	switch m.Type {
	case "cgroup", "cgroup2":
		err = mountCgroups(sys, dest, opts.Flags, cgroupNS)
	case "sysfs":
		err = sys.Mount(m.Source, dest, m.Type, opts.Flags, opts.Data)
		if errors.Is(err, unix.EPERM) {
			// sysfs needs a network namespace of our own, owned by our
			// user namespace: a shared one (the host's, a pod's made by
			// CNI outside the user namespace) forbids it. Show the host's
			// sysfs, read-only all through: the recursive bind brings the
			// host's mounts below /sys (its cgroup hierarchies), which a
			// remount alone would leave writable.
			err = sys.Mount("/sys", dest, "", unix.MS_BIND|unix.MS_REC, "")
			if err == nil {
				err = sys.RecursiveReadonly(dest)
			}
			if err == nil {
				err = remountBind(sys, dest, unix.MS_RDONLY|opts.Flags)
			}
		}
	case "tmpfs":
		err = labelHint(sys.Mount(m.Source, dest, m.Type, opts.Flags, labelData(opts.Data, label)), label)
	case "mqueue":
		err = sys.Mount(m.Source, dest, m.Type, opts.Flags, opts.Data)
		if err == nil {
			err = labelFile(dest, label)
		}
	default:
		err = sys.Mount(m.Source, dest, m.Type, opts.Flags, opts.Data)
	}
	if err != nil {
		return fail(err)
	}
	if opts.RecursiveReadonly {
		// On a filesystem of its own (a tmpfs, say) nothing is mounted
		// below yet, so rro is plain read-only; ignoring it would leave
		// the mount writable.
		if err := sys.RecursiveReadonly(dest); err != nil {
			return fail(fmt.Errorf("recursive read-only: %w", err))
		}
	}
	for _, p := range opts.Propagation {
		if err := sys.Mount("", dest, "", p, ""); err != nil {
			return fail(err)
		}
	}
	return nil
}

func bindMount(sys Syscalls, m specs.Mount, rootfs string, opts ParsedOptions, fail func(error) error, tree int) error {
	if tree >= 0 {
		mover, ok := sys.(TreeMover)
		if !ok {
			return fail(fmt.Errorf("cannot attach a mount tree here: %w", errdefs.ErrNotImplemented))
		}
		// The source may be out of this process's reach: the tree says
		// what it is.
		dir, err := mover.TreeIsDir(tree)
		if err != nil {
			return fail(err)
		}
		dest, err := sys.PrepareTarget(rootfs, m.Destination, !dir)
		if err != nil {
			return fail(err)
		}
		if err := mover.MoveTree(tree, dest); err != nil {
			return fail(fmt.Errorf("attach the mount made outside: %w", err))
		}
		return bindOptions(sys, dest, opts, fail)
	}
	fi, err := sys.Stat(m.Source)
	if err != nil {
		return fail(err)
	}
	dest, err := sys.PrepareTarget(rootfs, m.Destination, !fi.IsDir())
	if err != nil {
		return fail(err)
	}
	if err := sys.Mount(m.Source, dest, "", uintptr(unix.MS_BIND)|opts.Flags&unix.MS_REC, ""); err != nil {
		return fail(err)
	}
	return bindOptions(sys, dest, opts, fail)
}

// bindOptions applies to a bind on dest what its first call ignored.
func bindOptions(sys Syscalls, dest string, opts ParsedOptions, fail func(error) error) error {
	// A bind mount ignores every flag but MS_REC; the rest needs a remount.
	if rest := opts.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 {
		if err := remountBind(sys, dest, rest); err != nil {
			return fail(err)
		}
	}
	if opts.RecursiveReadonly {
		if err := sys.RecursiveReadonly(dest); err != nil {
			return fail(fmt.Errorf("recursive read-only: %w", err))
		}
	}
	for _, p := range opts.Propagation {
		if err := sys.Mount("", dest, "", p, ""); err != nil {
			return fail(err)
		}
	}
	return nil
}

// mountCgroups gives the container the host's cgroup layout: cgroup2 on a
// unified host; on v1 a tmpfs with each hierarchy mounted inside. Inside
// a cgroup namespace each mount shows the container's own cgroup as root.
func mountCgroups(sys Syscalls, dest string, flags uintptr, cgroupNS bool) error {
	hs, err := sys.CgroupHierarchies()
	if err != nil {
		return fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	for _, h := range hs {
		if h.Name == "" && h.Type == "cgroup2" {
			return mountHierarchy(sys, h, dest, flags, cgroupNS)
		}
	}
	fsFlags := flags &^ unix.MS_RDONLY
	if err := sys.Mount("tmpfs", dest, "tmpfs", fsFlags, "mode=755"); err != nil {
		return err
	}
	for _, h := range hs {
		if h.Name == "" || strings.Contains(h.Name, "/") {
			continue
		}
		d := filepath.Join(dest, h.Name)
		if err := sys.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := mountHierarchy(sys, h, d, flags, cgroupNS); err != nil {
			return fmt.Errorf("cgroup hierarchy %s: %w", h.Name, err)
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		return sys.Mount("", dest, "", fsFlags|unix.MS_REMOUNT|unix.MS_RDONLY, "mode=755")
	}
	return nil
}

// mountHierarchy mounts one hierarchy at d. In a cgroup namespace a new
// mount shows the namespace's root, the container's own cgroup. Without
// one it would show the host's whole tree, and the container would read
// the root's limits as its own: so, as runc does, the container's own
// cgroup directory is bind-mounted there instead. So it is too when the
// kernel refuses the new mount (EPERM: a cgroup namespace owned by the
// host's user namespace, seen from a container's).
func mountHierarchy(sys Syscalls, h Hierarchy, d string, flags uintptr, cgroupNS bool) error {
	rel, within := strings.CutPrefix(h.Path, strings.TrimSuffix(h.Root, "/"))
	bindable := h.Path != "" && h.Mountpoint != "" && within
	if cgroupNS || !bindable {
		err := sys.Mount(h.Type, d, h.Type, flags, h.Options)
		if !bindable || !errors.Is(err, unix.EPERM) {
			return err
		}
	}
	src := filepath.Join(h.Mountpoint, rel)
	if err := sys.Mount(src, d, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return remountBind(sys, d, flags)
}

// remountBind applies flags to the bind mount at dest. A mount that came
// from a more privileged mount namespace (every host mount, seen from a
// container's user namespace) has its ro, nosuid, nodev, noexec and atime
// flags locked: a remount that drops one fails with EPERM (mount(2)), so
// on EPERM it repeats the ones the mount has. It never drops them to make
// a remount work, which would be the point of the lock.
func remountBind(sys Syscalls, dest string, flags uintptr) error {
	flags &^= unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT
	err := sys.Mount("", dest, "", flags|unix.MS_BIND|unix.MS_REMOUNT, "")
	if !errors.Is(err, unix.EPERM) {
		return err
	}
	locked, ferr := sys.MountFlags(dest)
	if ferr != nil {
		return fmt.Errorf("%w (reading its flags: %v)", err, ferr)
	}
	// An atime mode is one of three: the mount's own replaces the one
	// asked for, rather than mixing two.
	const atime = unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_STRICTATIME
	if locked&atime != 0 {
		flags &^= atime
	}
	return sys.Mount("", dest, "", locked|flags|unix.MS_BIND|unix.MS_REMOUNT, "")
}

// switchRoot makes rootfs the root. pivot_root(".", ".") stacks the old
// root on the new one, where a lazy unmount removes it without needing a
// directory for it inside the container.
func switchRoot(sys Syscalls, rootfs string, noPivot bool) error {
	if err := sys.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir to rootfs: %w", err)
	}
	if !noPivot {
		// The old root, to stand in after pivot_root: "." must name it,
		// not the new root under it, when it is made a slave below, or
		// every mount of the container would become a slave too and an
		// rshared root (a Bidirectional volume) would stop propagating
		// to the host. runc does the same.
		oldRoot, err := sys.OpenDir("/")
		if err != nil {
			return fmt.Errorf("open old root: %w", err)
		}
		defer sys.CloseFD(oldRoot)
		err = sys.PivotRoot(".", ".")
		if err == nil {
			if err := sys.Fchdir(oldRoot); err != nil {
				return fmt.Errorf("chdir to old root: %w", err)
			}
			if err := sys.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("make old root slave: %w", err)
			}
			if err := sys.Unmount(".", unix.MNT_DETACH); err != nil {
				return fmt.Errorf("detach old root: %w", err)
			}
			return sys.Chdir("/")
		}
		if !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("pivot_root: %w", err)
		}
		// EINVAL: the root is not a mount we can pivot from (ramfs,
		// initramfs); moving and chrooting is what remains.
	}
	if err := sys.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move rootfs to /: %w", err)
	}
	if err := sys.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return sys.Chdir("/")
}

func maskPath(sys Syscalls, p, label string, devNull func() (string, error)) error {
	fi, err := sys.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("mask %s: %w", p, err)
	}
	if fi.IsDir() {
		err = labelHint(sys.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, labelData("", label)), label)
	} else {
		var null string
		null, err = devNull()
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
		err = sys.Mount(null, p, "", unix.MS_BIND, "")
	}
	return wrap("mask", p, err)
}

func readonlyPath(sys Syscalls, p string) error {
	if _, err := sys.Stat(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read-only %s: %w", p, err)
	}
	if err := sys.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return wrap("bind read-only", p, err)
	}
	flags, err := sys.MountFlags(p)
	if err != nil {
		return wrap("read-only", p, err)
	}
	return wrap("remount read-only", p, sys.Mount("", p, "", flags|unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""))
}
