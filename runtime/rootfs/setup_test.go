package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// fakeFS records calls; paths it reports as existing are in files (regular)
// and dirs.
type fakeFS struct {
	calls    []string
	dirs     map[string]bool
	files    map[string]bool
	failOn   string
	failErr  error // EIO if nil
	failOnce bool
	pivotErr error
	hs       []Hierarchy
	// chowns are Lchown's paths, kept apart from calls.
	chowns []string
	// locked are the flags MountFlags reports; MS_NOSUID if 0.
	locked uintptr
}

func newFake() *fakeFS {
	return &fakeFS{dirs: map[string]bool{"/host/data": true, "/proc/kcore": false}, files: map[string]bool{"/host/file": true, "/proc/kcore": true}}
}

func (f *fakeFS) rec(format string, a ...any) error {
	c := fmt.Sprintf(format, a...)
	f.calls = append(f.calls, c)
	if f.failOn != "" && strings.Contains(c, f.failOn) {
		err := f.failErr
		if err == nil {
			err = unix.EIO
		}
		if f.failOnce {
			f.failOn = ""
		}
		return err
	}
	return nil
}

func (f *fakeFS) Mount(source, target, fstype string, flags uintptr, data string) error {
	return f.rec("mount %s %s %s %#x %s", source, target, fstype, flags, data)
}
func (f *fakeFS) Unmount(target string, flags int) error { return f.rec("umount %s %d", target, flags) }
func (f *fakeFS) PivotRoot(n, o string) error {
	if f.pivotErr != nil {
		f.calls = append(f.calls, "pivot failed")
		return f.pivotErr
	}
	return f.rec("pivot %s %s", n, o)
}
func (f *fakeFS) Chroot(p string) error { return f.rec("chroot %s", p) }
func (f *fakeFS) Chdir(p string) error  { return f.rec("chdir %s", p) }
func (f *fakeFS) OpenDir(p string) (int, error) {
	return 100, f.rec("open %s", p)
}
func (f *fakeFS) Fchdir(fd int) error  { return f.rec("fchdir %d", fd) }
func (f *fakeFS) CloseFD(fd int) error { return f.rec("close %d", fd) }
func (f *fakeFS) Mknod(p string, mode uint32, dev int) error {
	return f.rec("mknod %s %o %d:%d", p, mode&0o7777, unix.Major(uint64(dev)), unix.Minor(uint64(dev)))
}
func (f *fakeFS) MkdirAll(p string, _ os.FileMode) error { return f.rec("mkdir %s", p) }
func (f *fakeFS) CreateFile(p string) error              { return f.rec("create %s", p) }
func (f *fakeFS) RecursiveReadonly(p string) error       { return f.rec("rro %s", p) }

// PrepareTarget resolves like the real one, against the real temp dirs the
// tests use as rootfs, but only records what it would create.
func (f *fakeFS) PrepareTarget(root, dest string, file bool) (string, error) {
	p, err := securejoin.SecureJoinVFS(root, dest, f)
	if err != nil {
		return "", err
	}
	if file {
		return p, f.rec("touch %s", p)
	}
	return p, f.rec("mkdir %s", p)
}

// Lstat and Readlink see the fake's own paths, and the real file system
// elsewhere: the temp dirs tests build symlinks in.
func (f *fakeFS) Lstat(p string) (os.FileInfo, error) {
	if fi, err := f.Stat(p); err == nil {
		return fi, nil
	}
	return os.Lstat(p)
}
func (f *fakeFS) Readlink(p string) (string, error) { return os.Readlink(p) }
func (f *fakeFS) Symlink(o, n string) error         { return f.rec("symlink %s %s", o, n) }
func (f *fakeFS) Lchown(p string, uid, gid int) error {
	f.chowns = append(f.chowns, p)
	return nil
}
func (f *fakeFS) Chmod(p string, mode os.FileMode) error { return f.rec("chmod %s %o", p, mode) }
func (f *fakeFS) MountFlags(string) (uintptr, error) {
	if f.locked != 0 {
		return f.locked, nil
	}
	return unix.MS_NOSUID, nil
}
func (f *fakeFS) CgroupHierarchies() ([]Hierarchy, error) { return f.hs, nil }
func (f *fakeFS) DevNull() (string, func(), error)        { return "/dev/null", func() {}, nil }

type fi struct{ dir bool }

func (i fi) Name() string { return "x" }
func (i fi) Size() int64  { return 0 }
func (i fi) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir
	}
	return 0
}
func (i fi) ModTime() time.Time { return time.Time{} }
func (i fi) IsDir() bool        { return i.dir }
func (i fi) Sys() any           { return nil }

func (f *fakeFS) Stat(p string) (os.FileInfo, error) {
	if f.dirs[p] {
		return fi{dir: true}, nil
	}
	if f.files[p] {
		return fi{}, nil
	}
	return nil, os.ErrNotExist
}

func (f *fakeFS) has(t *testing.T, want string) int {
	t.Helper()
	for i, c := range f.calls {
		if c == want {
			return i
		}
	}
	t.Errorf("no call %q in:\n%s", want, strings.Join(f.calls, "\n"))
	return -1
}

func defaultSpec() *specs.Spec {
	return &specs.Spec{
		Root: &specs.Root{Path: "rootfs", Readonly: true},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/data", Type: "bind", Source: "/host/data", Options: []string{"rbind", "ro", "rprivate"}},
			{Destination: "/etc/hosts", Type: "bind", Source: "/host/file", Options: []string{"bind"}},
		},
		Linux: &specs.Linux{
			MaskedPaths:   []string{"/proc/kcore", "/proc/missing"},
			ReadonlyPaths: []string{"/proc/sys"},
		},
	}
}

func TestSetupSequence(t *testing.T) {
	f := newFake()
	f.dirs["/proc/sys"] = true
	root := t.TempDir()
	hooked := -1
	if err := Setup(f, defaultSpec(), root, Options{BeforeSwitch: func() error {
		hooked = len(f.calls)
		f.calls = append(f.calls, "before switch")
		return nil
	}, AfterSwitch: func() error {
		f.calls = append(f.calls, "after switch")
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	f.calls = append(f.calls, "sysctls")
	if err := ProtectPaths(f, defaultSpec()); err != nil {
		t.Fatal(err)
	}
	if hooked < 0 {
		t.Fatal("BeforeSwitch not called")
	}
	order := []int{
		f.has(t, fmt.Sprintf("mount  /  %#x ", unix.MS_SLAVE|unix.MS_REC)),
		f.has(t, fmt.Sprintf("mount  %s  %#x ", root, unix.MS_SLAVE)),
		f.has(t, fmt.Sprintf("mount %s %s  %#x ", root, root, unix.MS_BIND|unix.MS_REC)),
		f.has(t, fmt.Sprintf("mount proc %s/proc proc %#x ", root, unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV)),
		f.has(t, fmt.Sprintf("mount tmpfs %s/dev tmpfs %#x mode=755,size=65536k", root, unix.MS_NOSUID|unix.MS_STRICTATIME)),
		f.has(t, fmt.Sprintf("mount devpts %s/dev/pts devpts %#x newinstance,ptmxmode=0666,mode=0620,gid=5", root, unix.MS_NOSUID|unix.MS_NOEXEC)),
		f.has(t, fmt.Sprintf("mount /host/data %s/data  %#x ", root, unix.MS_BIND|unix.MS_REC)),
		f.has(t, fmt.Sprintf("mount  %s/data  %#x ", root, unix.MS_RDONLY|unix.MS_BIND|unix.MS_REMOUNT)),
		f.has(t, fmt.Sprintf("mount  %s/data  %#x ", root, unix.MS_PRIVATE|unix.MS_REC)),
		f.has(t, fmt.Sprintf("mknod %s/dev/null 666 1:3", root)),
		f.has(t, fmt.Sprintf("symlink pts/ptmx %s/dev/ptmx", root)),
		f.has(t, "before switch"),
		f.has(t, "pivot . ."),
		// The old root is what "." names when it is made a slave.
		f.has(t, "fchdir 100"),
		f.has(t, fmt.Sprintf("mount  .  %#x ", unix.MS_SLAVE|unix.MS_REC)),
		f.has(t, fmt.Sprintf("umount . %d", unix.MNT_DETACH)),
		f.has(t, "after switch"),
		f.has(t, fmt.Sprintf("mount  /  %#x ", unix.MS_NOSUID|unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY)),
		// runc's order: sysctls, then read-only paths, then masked ones.
		f.has(t, "sysctls"),
		f.has(t, fmt.Sprintf("mount  /proc/sys  %#x ", unix.MS_NOSUID|unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY)),
		f.has(t, fmt.Sprintf("mount /dev/null /proc/kcore  %#x ", unix.MS_BIND)),
	}
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Errorf("call %d out of order:\n%s", i, strings.Join(f.calls, "\n"))
		}
	}
	f.has(t, fmt.Sprintf("touch %s/etc/hosts", root))
	for _, c := range f.calls {
		if strings.Contains(c, "/proc/missing") {
			t.Errorf("masked a missing path: %s", c)
		}
	}
}

// TestRsharedRoot: a shared root needs its parent mount private before the
// bind and the switch (pivot_root and MS_MOVE refuse a shared parent), and
// becomes shared once it is the root.
func TestRsharedRoot(t *testing.T) {
	for _, noPivot := range []bool{false, true} {
		f := newFake()
		root := t.TempDir()
		spec := &specs.Spec{Root: &specs.Root{}, Linux: &specs.Linux{RootfsPropagation: "rshared"}}
		if err := Setup(f, spec, root, Options{NoPivot: noPivot}); err != nil {
			t.Fatal(err)
		}
		shared := fmt.Sprintf("mount  /  %#x ", unix.MS_SHARED|unix.MS_REC)
		sw := "pivot . ."
		if noPivot {
			sw = "chroot ."
		}
		order := []int{
			f.has(t, shared),
			f.has(t, fmt.Sprintf("mount  %s  %#x ", root, unix.MS_PRIVATE)),
			f.has(t, fmt.Sprintf("mount %s %s  %#x ", root, root, unix.MS_BIND|unix.MS_REC)),
			f.has(t, sw),
		}
		for i := 1; i < len(order); i++ {
			if order[i] <= order[i-1] {
				t.Errorf("noPivot=%v: call %d out of order:\n%s", noPivot, i, strings.Join(f.calls, "\n"))
			}
		}
		last := -1
		for i, c := range f.calls {
			if c == shared {
				last = i
			}
		}
		if last < order[3] {
			t.Errorf("noPivot=%v: the new root is not made shared after the switch:\n%s", noPivot, strings.Join(f.calls, "\n"))
		}
	}
	// Private and slave roots are not re-marked after the switch.
	for prop, flag := range map[string]uintptr{"rprivate": unix.MS_PRIVATE | unix.MS_REC, "rslave": unix.MS_SLAVE | unix.MS_REC} {
		f := newFake()
		root := t.TempDir()
		if err := Setup(f, &specs.Spec{Root: &specs.Root{}, Linux: &specs.Linux{RootfsPropagation: prop}}, root, Options{}); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range f.calls {
			if c == fmt.Sprintf("mount  /  %#x ", flag) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: / re-marked %d times:\n%s", prop, n, strings.Join(f.calls, "\n"))
		}
	}
}

// The mount holding the rootfs is found by walking up: mount(2) says
// EINVAL for a directory that is not a mount point.
func TestParentMountWalksUp(t *testing.T) {
	f := newFake()
	root := t.TempDir()
	f.failOn = fmt.Sprintf("mount  %s  %#x ", root, unix.MS_PRIVATE)
	f.failErr = unix.EINVAL
	f.failOnce = true
	if err := Setup(f, &specs.Spec{Root: &specs.Root{}, Linux: &specs.Linux{RootfsPropagation: "rshared"}}, root, Options{}); err != nil {
		t.Fatal(err)
	}
	f.has(t, fmt.Sprintf("mount  %s  %#x ", filepath.Dir(root), unix.MS_PRIVATE))
	f = newFake()
	f.failOn = fmt.Sprintf("mount  %s  %#x ", root, unix.MS_PRIVATE)
	f.failErr = unix.EPERM
	if err := Setup(f, &specs.Spec{Root: &specs.Root{}, Linux: &specs.Linux{RootfsPropagation: "rshared"}}, root, Options{}); !errors.Is(err, unix.EPERM) {
		t.Fatalf("EPERM: %v", err)
	}
}

// A failing BeforeSwitch (a hook) stops the set-up before the switch.
func TestBeforeSwitchFailure(t *testing.T) {
	f := newFake()
	boom := errors.New("hook failed")
	if err := Setup(f, defaultSpec(), t.TempDir(), Options{BeforeSwitch: func() error { return boom }}); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	for _, c := range f.calls {
		if strings.HasPrefix(c, "pivot") || strings.HasPrefix(c, "chroot") {
			t.Fatalf("switched root after a failed hook: %s", c)
		}
	}
}

func TestPivotFallback(t *testing.T) {
	f := newFake()
	f.pivotErr = unix.EINVAL
	root := t.TempDir()
	if err := Setup(f, &specs.Spec{Root: &specs.Root{}}, root, Options{}); err != nil {
		t.Fatal(err)
	}
	a := f.has(t, fmt.Sprintf("mount %s /  %#x ", root, unix.MS_MOVE))
	b := f.has(t, "chroot .")
	if a > b {
		t.Error("chroot before move")
	}
	f = newFake()
	if err := Setup(f, &specs.Spec{Root: &specs.Root{}}, root, Options{NoPivot: true}); err != nil {
		t.Fatal(err)
	}
	f.has(t, "chroot .")
	f = newFake()
	f.pivotErr = unix.EPERM
	if err := Setup(f, &specs.Spec{Root: &specs.Root{}}, root, Options{}); err == nil {
		t.Fatal("EPERM from pivot_root must not fall back")
	}
}

// A symlink in the image must not aim a mount outside the rootfs.
func TestMountTargetSymlinkStaysInside(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../"+outside, filepath.Join(root, "up")); err != nil {
		t.Fatal(err)
	}
	f := newFake()
	spec := &specs.Spec{Root: &specs.Root{}, Mounts: []specs.Mount{
		{Destination: "/evil/x", Type: "tmpfs", Source: "tmpfs"},
		{Destination: "/up/y", Type: "bind", Source: "/host/file", Options: []string{"bind"}},
	}}
	if err := Setup(f, spec, root, Options{}); err != nil {
		t.Fatal(err)
	}
	// Resolved as if root were /: the links point at root's own subtree.
	f.has(t, fmt.Sprintf("mount tmpfs %s%s/x tmpfs 0x0 ", root, outside))
	f.has(t, fmt.Sprintf("mount /host/file %s%s/y  %#x ", root, outside, unix.MS_BIND))
	for _, c := range f.calls {
		if strings.Contains(c, " "+outside) {
			t.Errorf("call reaches outside the rootfs: %s", c)
		}
	}
}

// The real PrepareTarget creates inside the rootfs even through symlinks
// that point out of it; no root needed.
func TestPrepareTargetReal(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../.."+outside+"/f", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	sys := NewLinux()
	for _, c := range []struct {
		dest string
		file bool
		want string
	}{
		{"/evil/a/b", false, filepath.Join(root, outside, "a/b")},
		{"/evil/file", true, filepath.Join(root, outside, "file")},
		{"link", true, filepath.Join(root, outside, "f")},
		{"/plain/dir/", false, filepath.Join(root, "plain/dir")},
	} {
		got, err := sys.PrepareTarget(root, c.dest, c.file)
		if err != nil {
			t.Fatalf("%s: %v", c.dest, err)
		}
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.dest, got, c.want)
		}
		fi, err := os.Stat(got)
		if err != nil || fi.IsDir() == c.file {
			t.Errorf("%s: %v %v", c.dest, fi, err)
		}
	}
	ents, err := os.ReadDir(outside)
	if err != nil || len(ents) != 0 {
		t.Fatalf("created outside the rootfs: %v %v", ents, err)
	}
	// A directory target where a file exists fails rather than replacing it.
	if _, err := sys.PrepareTarget(root, "/evil/file/sub", false); err == nil {
		t.Error("directory under a file was created")
	}
}

// pin refuses a target whose path no longer names what it resolves to,
// which is what a symlink swapped in after resolution looks like.
func TestPinRefusesSymlinkedPath(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "real", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(root, "swapped")); err != nil {
		t.Fatal(err)
	}
	fd, name, err := pin(filepath.Join(root, "real"))
	if err != nil || fd < 0 || !strings.HasPrefix(name, "/proc/self/fd/") {
		t.Fatalf("plain path: %d %s %v", fd, name, err)
	}
	unix.Close(fd)
	if _, _, err := pin(filepath.Join(root, "swapped", "sub")); !errors.Is(err, unix.ELOOP) {
		t.Fatalf("through a symlink: %v", err)
	}
	if _, _, err := pin(filepath.Join(root, "swapped")); !errors.Is(err, unix.ELOOP) {
		t.Fatalf("a symlink itself: %v", err)
	}
	if fd, name, err := pin("."); err != nil || fd != -1 || name != "." {
		t.Fatalf("relative: %d %s %v", fd, name, err)
	}
}

func TestBindRemountRepeatsLockedFlags(t *testing.T) {
	f := newFake()
	f.failOn = fmt.Sprintf("%#x", unix.MS_RDONLY|unix.MS_BIND|unix.MS_REMOUNT)
	f.failErr = unix.EPERM
	f.failOnce = true
	root := t.TempDir()
	spec := &specs.Spec{Root: &specs.Root{}, Mounts: []specs.Mount{
		{Destination: "/data", Type: "bind", Source: "/host/data", Options: []string{"rbind", "ro", "rro"}},
	}}
	if err := Setup(f, spec, root, Options{}); err != nil {
		t.Fatal(err)
	}
	a := f.has(t, fmt.Sprintf("mount  %s/data  %#x ", root, unix.MS_NOSUID|unix.MS_RDONLY|unix.MS_BIND|unix.MS_REMOUNT))
	b := f.has(t, fmt.Sprintf("rro %s/data", root))
	if a > b {
		t.Error("rro before the remount")
	}
}

func TestMountErrorNamesDestination(t *testing.T) {
	f := newFake()
	f.failOn = "devpts"
	err := Setup(f, defaultSpec(), t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), "/dev/pts") || !errors.Is(err, unix.EIO) {
		t.Fatalf("err %v", err)
	}
	spec := defaultSpec()
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/mnt/x", Type: "bind", Source: "/no/such", Options: []string{"rbind"}})
	err = Setup(newFake(), spec, t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), "/mnt/x") || !strings.Contains(err.Error(), "/no/such") {
		t.Fatalf("err %v", err)
	}
}

func TestCgroupMountV1(t *testing.T) {
	f := newFake()
	f.hs = []Hierarchy{{Name: "memory", Type: "cgroup", Options: "memory"}, {Name: "unified", Type: "cgroup2"}}
	spec := &specs.Spec{Root: &specs.Root{}, Mounts: []specs.Mount{{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid"}}}}
	root := t.TempDir()
	if err := Setup(f, spec, root, Options{}); err != nil {
		t.Fatal(err)
	}
	f.has(t, fmt.Sprintf("mount tmpfs %s/sys/fs/cgroup tmpfs %#x mode=755", root, unix.MS_NOSUID))
	f.has(t, fmt.Sprintf("mount cgroup %s/sys/fs/cgroup/memory cgroup %#x memory", root, unix.MS_NOSUID|unix.MS_RDONLY))
	f.has(t, fmt.Sprintf("mount cgroup2 %s/sys/fs/cgroup/unified cgroup2 %#x ", root, unix.MS_NOSUID|unix.MS_RDONLY))
	f.has(t, fmt.Sprintf("mount  %s/sys/fs/cgroup  %#x mode=755", root, unix.MS_NOSUID|unix.MS_REMOUNT|unix.MS_RDONLY))
	f2 := newFake()
	f2.hs = []Hierarchy{{Name: "", Type: "cgroup2"}}
	if err := Setup(f2, spec, root, Options{}); err != nil {
		t.Fatal(err)
	}
	f2.has(t, fmt.Sprintf("mount cgroup2 %s/sys/fs/cgroup cgroup2 %#x ", root, unix.MS_NOSUID|unix.MS_RDONLY))
}

// TestCgroupMountOwnCgroup: without a cgroup namespace a new cgroup mount
// would show the host's root cgroup, whose limits are not the
// container's: its own cgroup directory is bound there instead. With a
// cgroup namespace the new mount already shows it.
func TestCgroupMountOwnCgroup(t *testing.T) {
	hs := []Hierarchy{
		{Name: "memory", Type: "cgroup", Options: "memory", Mountpoint: "/sys/fs/cgroup/memory", Root: "/", Path: "/raind/c1"},
		{Name: "pids", Type: "cgroup", Options: "pids", Mountpoint: "/sys/fs/cgroup/pids", Root: "/", Path: "/raind/c1"},
	}
	mnt := specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid"}}
	root := t.TempDir()
	f := newFake()
	f.hs = hs
	if err := Setup(f, &specs.Spec{Root: &specs.Root{}, Mounts: []specs.Mount{mnt}}, root, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"memory", "pids"} {
		f.has(t, fmt.Sprintf("mount /sys/fs/cgroup/%s/raind/c1 %s/sys/fs/cgroup/%s  %#x ", c, root, c, unix.MS_BIND|unix.MS_REC))
		f.has(t, fmt.Sprintf("mount  %s/sys/fs/cgroup/%s  %#x ", root, c, unix.MS_NOSUID|unix.MS_RDONLY|unix.MS_BIND|unix.MS_REMOUNT))
	}
	f2 := newFake()
	f2.hs = hs
	spec := &specs.Spec{Root: &specs.Root{}, Mounts: []specs.Mount{mnt}, Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.CgroupNamespace}}}}
	if err := Setup(f2, spec, root, Options{}); err != nil {
		t.Fatal(err)
	}
	f2.has(t, fmt.Sprintf("mount cgroup %s/sys/fs/cgroup/memory cgroup %#x memory", root, unix.MS_NOSUID|unix.MS_RDONLY))
}

func TestCgroupPathIn(t *testing.T) {
	own := "12:pids:/raind/c1\n11:cpu,cpuacct:/raind/c2\n1:name=systemd:/sys\n0::/u\n"
	for _, tc := range []struct {
		h    Hierarchy
		want string
	}{
		{Hierarchy{Type: "cgroup", Options: "pids"}, "/raind/c1"},
		{Hierarchy{Type: "cgroup", Options: "cpu,cpuacct"}, "/raind/c2"},
		{Hierarchy{Type: "cgroup", Options: "xattr,name=systemd"}, "/sys"},
		{Hierarchy{Type: "cgroup2"}, "/u"},
		{Hierarchy{Type: "cgroup", Options: "memory"}, ""},
	} {
		if got := cgroupPathIn(own, tc.h); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.h, got, tc.want)
		}
	}
}

func TestParseMountOptions(t *testing.T) {
	p := ParseMountOptions([]string{"ro", "nosuid", "rw", "rslave", "size=10m", "mode=755", "noexec"})
	if p.RecursiveReadonly {
		t.Error("rro without rro")
	}
	if p.Flags != unix.MS_NOSUID|unix.MS_NOEXEC {
		t.Errorf("flags %#x", p.Flags)
	}
	if len(p.Propagation) != 1 || p.Propagation[0] != unix.MS_SLAVE|unix.MS_REC {
		t.Errorf("propagation %v", p.Propagation)
	}
	if p.Data != "size=10m,mode=755" {
		t.Errorf("data %q", p.Data)
	}
	p = ParseMountOptions([]string{"rbind", "rro", "nodev", "dev", "private", "rshared", "strictatime", "uid=5"})
	if p.Flags != unix.MS_BIND|unix.MS_REC|unix.MS_STRICTATIME || !p.RecursiveReadonly || p.Data != "uid=5" {
		t.Errorf("%+v", p)
	}
	if len(p.Propagation) != 2 || p.Propagation[0] != unix.MS_PRIVATE || p.Propagation[1] != unix.MS_SHARED|unix.MS_REC {
		t.Errorf("propagation order %v", p.Propagation)
	}
	if !isBind("none", []string{"ro", "rbind"}) || isBind("tmpfs", []string{"ro"}) || !isBind("bind", nil) {
		t.Error("isBind")
	}
}

func TestParseCgroupMountinfo(t *testing.T) {
	h, ok := parseCgroupMountinfo("35 25 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory")
	if !ok || h.Name != "memory" || h.Type != "cgroup" || h.Options != "memory" {
		t.Errorf("%+v %v", h, ok)
	}
	h, ok = parseCgroupMountinfo("30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate")
	if !ok || h.Name != "" || h.Type != "cgroup2" || h.Options != "" {
		t.Errorf("%+v %v", h, ok)
	}
	if _, ok := parseCgroupMountinfo("22 1 8:1 / / rw - ext4 /dev/vda rw"); ok {
		t.Error("ext4 taken for a cgroup")
	}
}

func userNSSpec() *specs.Spec {
	s := defaultSpec()
	s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.UserNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace}}
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, UID: ptrU32(5), GID: ptrU32(5)}}
	return s
}

func ptrU32(v uint32) *uint32 { return &v }

// TestUserNSDevicesBound: in a user namespace mknod of a device is
// refused, so every device, default or the spec's, is the host's node
// bound in, and never chowned: the node is the host's.
func TestUserNSDevicesBound(t *testing.T) {
	f := newFake()
	root := t.TempDir()
	if err := Setup(f, userNSSpec(), root, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/fuse"} {
		f.has(t, fmt.Sprintf("create %s%s", root, d))
		f.has(t, fmt.Sprintf("mount %s %s%s  %#x ", d, root, d, unix.MS_BIND))
	}
	for _, c := range f.calls {
		if strings.HasPrefix(c, "mknod") {
			t.Errorf("mknod in a user namespace: %s", c)
		}
	}
	if len(f.chowns) != 0 {
		t.Errorf("host device nodes chowned: %v", f.chowns)
	}
	// Without a user namespace they are made, and owned as the spec says.
	f = newFake()
	spec := userNSSpec()
	spec.Linux.Namespaces = spec.Linux.Namespaces[1:]
	if err := Setup(f, spec, root, Options{}); err != nil {
		t.Fatal(err)
	}
	f.has(t, fmt.Sprintf("mknod %s/dev/fuse 666 10:229", root))
	if len(f.chowns) != 7 {
		t.Errorf("chowns %v, want the 7 nodes made", f.chowns)
	}
}

// TestMknodRefusedBindsWithoutChown: without CAP_MKNOD the host's node is
// bound, and not chowned: that would change the host's /dev.
func TestMknodRefusedBindsWithoutChown(t *testing.T) {
	f := newFake()
	f.failOn = "mknod"
	f.failErr = unix.EPERM
	root := t.TempDir()
	if err := Setup(f, defaultSpec(), root, Options{}); err != nil {
		t.Fatal(err)
	}
	f.has(t, fmt.Sprintf("mount /dev/null %s/dev/null  %#x ", root, unix.MS_BIND))
	if len(f.chowns) != 0 {
		t.Errorf("bound host nodes chowned: %v", f.chowns)
	}
}

// TestUserNSSysfsBindKeepsLockedFlags: a user namespace whose network
// namespace it does not own cannot mount sysfs; the host's is bound
// read-only, and the remount repeats the flags the kernel locked on it,
// its atime mode included (relatime here, not the spec's), or it would
// fail with EPERM.
func TestUserNSSysfsBindKeepsLockedFlags(t *testing.T) {
	f := newFake()
	f.failOn = "sysfs"
	f.failErr = unix.EPERM
	f.failOnce = true
	f.locked = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME
	root := t.TempDir()
	spec := &specs.Spec{Root: &specs.Root{}, Mounts: []specs.Mount{
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro", "strictatime"}},
	}}
	// The first remount (without the mount's relatime) is refused too.
	first := fmt.Sprintf("mount  %s/sys  %#x ", root, unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV|unix.MS_RDONLY|unix.MS_STRICTATIME|unix.MS_BIND|unix.MS_REMOUNT)
	g := &lockedFS{fakeFS: f, refuse: first}
	if err := Setup(g, spec, root, Options{}); err != nil {
		t.Fatal(err)
	}
	a := f.has(t, fmt.Sprintf("mount /sys %s/sys  %#x ", root, unix.MS_BIND|unix.MS_REC))
	// The host's mounts below /sys come along: read-only too.
	b := f.has(t, fmt.Sprintf("rro %s/sys", root))
	c := f.has(t, fmt.Sprintf("mount  %s/sys  %#x ", root, unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV|unix.MS_RDONLY|unix.MS_RELATIME|unix.MS_BIND|unix.MS_REMOUNT))
	if a > b || b > c {
		t.Errorf("sysfs fallback out of order:\n%s", strings.Join(f.calls, "\n"))
	}
}

// lockedFS refuses one exact mount call with EPERM, as the kernel refuses
// a remount that drops a locked flag.
type lockedFS struct {
	*fakeFS
	refuse string
}

func (l *lockedFS) Mount(source, target, fstype string, flags uintptr, data string) error {
	c := fmt.Sprintf("mount %s %s %s %#x %s", source, target, fstype, flags, data)
	if c == l.refuse {
		l.calls = append(l.calls, c+" (refused)")
		return unix.EPERM
	}
	return l.fakeFS.Mount(source, target, fstype, flags, data)
}

// TestUserNSCgroupMountFallsBackToBind: a cgroup namespace the user
// namespace does not own refuses a new cgroup mount; the container's own
// cgroup directory is bound instead, as without a cgroup namespace.
func TestUserNSCgroupMountFallsBackToBind(t *testing.T) {
	f := newFake()
	f.hs = []Hierarchy{{Name: "memory", Type: "cgroup", Options: "memory", Mountpoint: "/sys/fs/cgroup/memory", Root: "/", Path: "/raind/c1"}}
	root := t.TempDir()
	f.failOn = fmt.Sprintf("mount cgroup %s/sys/fs/cgroup/memory cgroup", root)
	f.failErr = unix.EPERM
	f.failOnce = true
	spec := &specs.Spec{Root: &specs.Root{}, Mounts: []specs.Mount{{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid"}}},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.UserNamespace}, {Type: specs.CgroupNamespace}}}}
	if err := Setup(f, spec, root, Options{}); err != nil {
		t.Fatal(err)
	}
	f.has(t, fmt.Sprintf("mount /sys/fs/cgroup/memory/raind/c1 %s/sys/fs/cgroup/memory  %#x ", root, unix.MS_BIND|unix.MS_REC))
}
