package rootfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// Hierarchy is a cgroup filesystem mounted on the host.
type Hierarchy struct {
	// Name is the directory it gets under the container's /sys/fs/cgroup.
	Name string
	// Type is "cgroup" or "cgroup2"; Options are its controller options.
	Type    string
	Options string
	// Mountpoint is where the hierarchy is mounted in this mount
	// namespace, Root the directory of the hierarchy mounted there, and
	// Path this process's cgroup in it (from /proc/self/cgroup; empty if
	// unknown).
	Mountpoint, Root, Path string
}

// Syscalls is the thin kernel interface rootfs uses, so that the logic can
// be tested without root.
//
// The real Mount pins an absolute target before mounting on it: see pin.
type Syscalls interface {
	Mount(source, target, fstype string, flags uintptr, data string) error
	Unmount(target string, flags int) error
	PivotRoot(newRoot, putOld string) error
	Chroot(path string) error
	Chdir(path string) error
	// OpenDir opens a directory for Fchdir; Fchdir and CloseFD use and
	// release what it returned.
	OpenDir(path string) (int, error)
	Fchdir(fd int) error
	CloseFD(fd int) error
	Mknod(path string, mode uint32, dev int) error
	MkdirAll(path string, perm os.FileMode) error
	// CreateFile makes an empty regular file to bind a file over.
	CreateFile(path string) error
	Symlink(oldname, newname string) error
	Stat(path string) (os.FileInfo, error)
	// Lstat and Readlink let securejoin resolve paths through this layer.
	Lstat(path string) (os.FileInfo, error)
	Readlink(path string) (string, error)
	Lchown(path string, uid, gid int) error
	Chmod(path string, mode os.FileMode) error
	// PrepareTarget creates dest inside root (a directory, or an empty
	// file when file is set) without ever walking out of root, and returns
	// the host path of what it created, free of symlinks.
	PrepareTarget(root, dest string, file bool) (string, error)
	// RecursiveReadonly makes the mount at path and every mount below it
	// read-only (mount_setattr(2)).
	RecursiveReadonly(path string) error
	// MountFlags returns the MS_* flags path is mounted with.
	MountFlags(path string) (uintptr, error)
	// CgroupHierarchies lists the host's cgroup mounts.
	CgroupHierarchies() ([]Hierarchy, error)
	// DevNull returns a mount source that is certainly the null device,
	// and how to release it.
	DevNull() (string, func(), error)
}

type linux struct{}

// NewLinux returns the real kernel interface.
func NewLinux() Syscalls { return linux{} }

// Mount mounts onto the inode target names now, checked to be reached
// without symlinks; see pin.
func (linux) Mount(source, target, fstype string, flags uintptr, data string) error {
	fd, name, err := pin(target)
	if err != nil {
		return err
	}
	if fd >= 0 {
		defer unix.Close(fd)
	}
	return unix.Mount(source, name, fstype, flags, data)
}

// pin opens an absolute target with O_PATH and checks that the kernel's own
// name for what it opened is target itself. Targets come from resolving the
// destination inside the rootfs (securejoin); between that resolution and
// mount(2), anything that can write to the rootfs (another container
// sharing a volume, an image being unpacked) could swap a directory for a
// symlink to, say, /etc on the host, and mount(2) would follow it and cover
// a host path. Mounting on /proc/self/fd/N instead uses exactly the inode
// checked. A relative target (the "." of the root switch) is used as is.
//
// Without a procfs at /proc (a spec without a /proc mount, after the root
// switch) there is nothing to check with, and the plain path is used: by
// then the root is the container's, so a symlink cannot leave it.
func pin(target string) (int, string, error) {
	if !filepath.IsAbs(target) {
		return -1, target, nil
	}
	fd, err := unix.Open(target, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("open mount target %s: %w", target, err)
	}
	name := "/proc/self/fd/" + strconv.Itoa(fd)
	got, err := os.Readlink(name)
	if errors.Is(err, os.ErrNotExist) {
		unix.Close(fd)
		return -1, target, nil
	}
	if err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("check mount target %s: %w", target, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("check mount target %s: %w", target, err)
	}
	if got != filepath.Clean(target) || st.Mode&unix.S_IFMT == unix.S_IFLNK {
		unix.Close(fd)
		return -1, "", fmt.Errorf("mount target %s now resolves to %s: a path component changed under us: %w", target, got, unix.ELOOP)
	}
	return fd, name, nil
}

func (linux) RecursiveReadonly(path string) error {
	fd, name, err := pin(path)
	if err != nil {
		return err
	}
	if fd < 0 {
		return unix.MountSetattr(unix.AT_FDCWD, name, unix.AT_RECURSIVE|unix.AT_SYMLINK_NOFOLLOW,
			&unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
	}
	defer unix.Close(fd)
	return unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE,
		&unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
}

func (linux) PrepareTarget(root, dest string, file bool) (string, error) {
	rootDir, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer rootDir.Close()
	// Resolve first, as if root were /, so that symlinks in the image
	// (even dangling ones, which MkdirAllHandle refuses to create through)
	// lead where they would inside the container; the creation below then
	// guards against the tree changing since.
	resolved, err := securejoin.SecureJoin(root, dest)
	if err != nil {
		return "", err
	}
	dest, err = filepath.Rel(root, resolved)
	if err != nil {
		return "", err
	}
	dest = filepath.Clean("/" + dest)
	dir, base := dest, ""
	if file {
		dir, base = filepath.Split(dest)
		if base == "" {
			return "", fmt.Errorf("file mount target %s: %w", dest, unix.EISDIR)
		}
	}
	// MkdirAllHandle walks and creates one component at a time below the
	// root handle, so no component can lead out of root, and hands back
	// the directory it ended in rather than a path to look up again.
	h, err := pathrs.MkdirAllHandle(rootDir, dir, 0o755)
	if err != nil {
		return "", err
	}
	defer h.Close()
	fd := int(h.Fd())
	if file {
		ffd, err := openOrCreateFile(fd, base)
		if err != nil {
			return "", fmt.Errorf("create %s: %w", dest, err)
		}
		defer unix.Close(ffd)
		fd = ffd
	}
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", err
	}
	if p != root && !strings.HasPrefix(p, root+"/") {
		return "", fmt.Errorf("%s resolved to %s, outside %s: %w", dest, p, root, unix.EXDEV)
	}
	return p, nil
}

// openOrCreateFile returns an O_PATH fd of name in dirfd, creating an empty
// file if there is nothing there. A symlink there is refused, not followed.
func openOrCreateFile(dirfd int, name string) (int, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		cfd, cerr := unix.Openat(dirfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if cerr != nil && !errors.Is(cerr, unix.EEXIST) {
			return -1, cerr
		}
		if cerr == nil {
			unix.Close(cfd)
		}
		fd, err = unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		unix.Close(fd)
		return -1, unix.ELOOP
	}
	return fd, nil
}
func (linux) Unmount(target string, flags int) error { return unix.Unmount(target, flags) }
func (linux) PivotRoot(newRoot, putOld string) error { return unix.PivotRoot(newRoot, putOld) }
func (linux) Chroot(path string) error               { return unix.Chroot(path) }
func (linux) Chdir(path string) error                { return unix.Chdir(path) }
func (linux) Fchdir(fd int) error                    { return unix.Fchdir(fd) }
func (linux) CloseFD(fd int) error                   { return unix.Close(fd) }
func (linux) OpenDir(path string) (int, error) {
	return unix.Open(path, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
}
func (linux) Mknod(path string, mode uint32, dev int) error { return unix.Mknod(path, mode, dev) }
func (linux) MkdirAll(path string, perm os.FileMode) error  { return os.MkdirAll(path, perm) }
func (linux) Symlink(oldname, newname string) error         { return os.Symlink(oldname, newname) }
func (linux) Stat(path string) (os.FileInfo, error)         { return os.Stat(path) }
func (linux) Lstat(path string) (os.FileInfo, error)        { return os.Lstat(path) }
func (linux) Readlink(path string) (string, error)          { return os.Readlink(path) }
func (linux) Lchown(path string, uid, gid int) error        { return os.Lchown(path, uid, gid) }
func (linux) Chmod(path string, mode os.FileMode) error     { return os.Chmod(path, mode) }

func (linux) CreateFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// DevNull opens /dev/null and checks that it is the null device (char
// 1:3) before anything is bound from it. Why (CVE-2025-31133): masked
// paths are covered with /dev/null inside the container, whose /dev the
// image (without a /dev mount), a volume or a racing process may supply;
// a /dev/null that is a symlink to, say, /proc/sys/kernel/core_pattern
// would put that file, writable, where the spec wanted nothing. The mount
// then uses the checked inode (/proc/self/fd/N), not the path again.
func (linux) DevNull() (string, func(), error) { return openDevNull("/dev/null") }

func openDevNull(path string) (string, func(), error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return "", nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		unix.Close(fd)
		return "", nil, fmt.Errorf("%s is not the null device (mode %#o, device %d:%d): refusing to mask paths with it: %w",
			path, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), errdefs.ErrInvalidArgument)
	}
	return "/proc/self/fd/" + strconv.Itoa(fd), func() { unix.Close(fd) }, nil
}

func (linux) MountFlags(path string) (uintptr, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	// Only the flags a bind remount must repeat, or it fails with EPERM.
	keep := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC |
		unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	return uintptr(st.Flags) & keep, nil
}

func (linux) CgroupHierarchies() ([]Hierarchy, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hs []Hierarchy
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		h, ok := parseCgroupMountinfo(sc.Text())
		if ok {
			hs = append(hs, h)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	for i := range hs {
		hs[i].Path = cgroupPathIn(string(own), hs[i])
	}
	return hs, nil
}

// cgroupPathIn finds h's line in a /proc/<pid>/cgroup text: the v2 line
// ("0::/path") for a cgroup2, else the line whose controllers (or
// name=) are all among h's options.
func cgroupPathIn(procCgroup string, h Hierarchy) string {
	opts := map[string]bool{}
	for _, o := range strings.Split(h.Options, ",") {
		opts[o] = true
	}
	for _, line := range strings.Split(procCgroup, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if h.Type == "cgroup2" {
			if parts[0] == "0" && parts[1] == "" {
				return parts[2]
			}
			continue
		}
		if parts[1] == "" {
			continue
		}
		all := true
		for _, c := range strings.Split(parts[1], ",") {
			all = all && opts[c]
		}
		if all {
			return parts[2]
		}
	}
	return ""
}

// parseCgroupMountinfo reads one mountinfo line: the mount point is field 5,
// and after the " - " separator come the type, source and super options.
func parseCgroupMountinfo(line string) (Hierarchy, bool) {
	pre, post, ok := strings.Cut(line, " - ")
	if !ok {
		return Hierarchy{}, false
	}
	fields := strings.Fields(pre)
	rest := strings.Fields(post)
	if len(fields) < 5 || len(rest) < 3 {
		return Hierarchy{}, false
	}
	typ := rest[0]
	if typ != "cgroup" && typ != "cgroup2" {
		return Hierarchy{}, false
	}
	mp := fields[4]
	if !strings.HasPrefix(mp, "/sys/fs/cgroup") {
		return Hierarchy{}, false
	}
	name := strings.TrimPrefix(strings.TrimPrefix(mp, "/sys/fs/cgroup"), "/")
	var opts []string
	for _, o := range strings.Split(rest[2], ",") {
		switch o {
		case "rw", "ro":
			continue
		}
		opts = append(opts, o)
	}
	if typ == "cgroup2" {
		opts = nil
	}
	return Hierarchy{Name: name, Type: typ, Options: strings.Join(opts, ","), Mountpoint: mp, Root: fields[3]}, true
}

func wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}
