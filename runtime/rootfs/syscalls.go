package rootfs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Hierarchy is a cgroup filesystem mounted on the host.
type Hierarchy struct {
	// Name is the directory it gets under the container's /sys/fs/cgroup.
	Name string
	// Type is "cgroup" or "cgroup2"; Options are its controller options.
	Type    string
	Options string
}

// Syscalls is the thin kernel interface rootfs uses.
type Syscalls interface {
	Mount(source, target, fstype string, flags uintptr, data string) error
	Unmount(target string, flags int) error
	PivotRoot(newRoot, putOld string) error
	Chroot(path string) error
	Chdir(path string) error
	Mknod(path string, mode uint32, dev int) error
	MkdirAll(path string, perm os.FileMode) error
	// CreateFile makes an empty regular file to bind a file over.
	CreateFile(path string) error
	Symlink(oldname, newname string) error
	Stat(path string) (os.FileInfo, error)
	Lchown(path string, uid, gid int) error
	// MountFlags returns the MS_* flags path is mounted with.
	MountFlags(path string) (uintptr, error)
	// CgroupHierarchies lists the host's cgroup mounts.
	CgroupHierarchies() ([]Hierarchy, error)
}

type linux struct{}

// NewLinux returns the real kernel interface.
func NewLinux() Syscalls { return linux{} }

func (linux) Mount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}
func (linux) Unmount(target string, flags int) error        { return unix.Unmount(target, flags) }
func (linux) PivotRoot(newRoot, putOld string) error        { return unix.PivotRoot(newRoot, putOld) }
func (linux) Chroot(path string) error                      { return unix.Chroot(path) }
func (linux) Chdir(path string) error                       { return unix.Chdir(path) }
func (linux) Mknod(path string, mode uint32, dev int) error { return unix.Mknod(path, mode, dev) }
func (linux) MkdirAll(path string, perm os.FileMode) error  { return os.MkdirAll(path, perm) }
func (linux) Symlink(oldname, newname string) error         { return os.Symlink(oldname, newname) }
func (linux) Stat(path string) (os.FileInfo, error)         { return os.Stat(path) }
func (linux) Lchown(path string, uid, gid int) error        { return os.Lchown(path, uid, gid) }

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
	return hs, sc.Err()
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
	return Hierarchy{Name: name, Type: typ, Options: strings.Join(opts, ",")}, true
}

func wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}
