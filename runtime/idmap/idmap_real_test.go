package idmap

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// scratch mounts a filesystem of type fstype on a new directory and
// returns it; the mount goes at the end of the test.
func scratch(t *testing.T, fstype string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount(fstype, dir, fstype, 0, ""); err != nil {
		t.Skipf("mount %s: %v", fstype, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func attach(t *testing.T, tree *os.File) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.MoveMount(int(tree.Fd()), "", unix.AT_FDCWD, dir, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		t.Fatalf("move_mount: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func owner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

// A file owned by 1000 on disk shows as 2000 through a mount mapped
// 1000 -> 2000, and a file made through the mount by host id 2000 lands on
// disk owned by 1000.
func TestCloneMapsOwners(t *testing.T) {
	needRoot(t)
	src := scratch(t, "tmpfs")
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{src, filepath.Join(src, "f")} {
		if err := os.Lchown(p, 1000, 1001); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := UserNS([]specs.LinuxIDMapping{{ContainerID: 1000, HostID: 2000, Size: 10}},
		[]specs.LinuxIDMapping{{ContainerID: 1000, HostID: 3000, Size: 10}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	tree, err := Clone(src, false, false, ns)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	dst := attach(t, tree)
	// t.TempDir's parent is 0700: let the ids below reach the mount.
	if err := os.Chmod(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}

	if uid, gid := owner(t, filepath.Join(dst, "f")); uid != 2000 || gid != 3001 {
		t.Errorf("through the mount f is owned by %d:%d, want 2000:3001", uid, gid)
	}
	if uid, gid := owner(t, filepath.Join(src, "f")); uid != 1000 || gid != 1001 {
		t.Errorf("the source changed: f is owned by %d:%d", uid, gid)
	}

	// Create as host 2005:3005 (fsuid/fsgid on a thread of its own, which
	// dies with this goroutine rather than go back to the pool).
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		unix.RawSyscall(unix.SYS_SETFSGID, 3005, 0, 0)
		unix.RawSyscall(unix.SYS_SETFSUID, 2005, 0, 0)
		fd, err := unix.Open(filepath.Join(dst, "new"), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(fd)
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("create through the mount as 2005:3005: %v", err)
	}
	if uid, gid := owner(t, filepath.Join(src, "new")); uid != 1005 || gid != 1005 {
		t.Errorf("a file made through the mount by 2005:3005 is owned by %d:%d on disk, want 1005:1005", uid, gid)
	}
	if uid, gid := owner(t, filepath.Join(dst, "new")); uid != 2005 || gid != 3005 {
		t.Errorf("through the mount the new file is owned by %d:%d, want 2005:3005", uid, gid)
	}
}

// A recursive clone maps its submounts only when asked to ("ridmap").
func TestCloneRecursive(t *testing.T) {
	needRoot(t)
	src := scratch(t, "tmpfs")
	sub := filepath.Join(src, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sub, unix.MNT_DETACH) })
	for _, p := range []string{src, sub} {
		if err := os.Lchown(p, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	m := []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 5000, Size: 1}}
	ns, err := UserNS(m, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	for _, tc := range []struct {
		mapAll  bool
		wantSub uint32
	}{{false, 1000}, {true, 5000}} {
		tree, err := Clone(src, true, tc.mapAll, ns)
		if err != nil {
			t.Fatal(err)
		}
		dst := attach(t, tree)
		tree.Close()
		if uid, _ := owner(t, dst); uid != 5000 {
			t.Errorf("mapAll=%v: top owned by %d, want 5000", tc.mapAll, uid)
		}
		if uid, _ := owner(t, filepath.Join(dst, "sub")); uid != tc.wantSub {
			t.Errorf("mapAll=%v: submount owned by %d, want %d", tc.mapAll, uid, tc.wantSub)
		}
	}
}

// A filesystem that cannot be id-mapped is named in the error.
func TestCloneUnsupportedFilesystem(t *testing.T) {
	needRoot(t)
	src := scratch(t, "ramfs")
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	ns, err := UserNS(m, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	tree, err := Clone(src, false, false, ns)
	if err == nil {
		tree.Close()
		t.Skip("this kernel id-maps ramfs")
	}
	if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), `filesystem "ramfs"`) || !strings.Contains(err.Error(), src) {
		t.Errorf("error %v: want NotImplemented naming ramfs and %s", err, src)
	}
}

// The holder process is gone once UserNS returns, and the namespace it
// leaves has the maps asked for.
func TestUserNSMapsAndNoHolderLeft(t *testing.T) {
	needRoot(t)
	before := children(t)
	ns, err := UserNS([]specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
		[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 10}, {ContainerID: 10, HostID: 300000, Size: 5}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if after := children(t); after != before {
		t.Errorf("%d children after UserNS, %d before", after, before)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(ns.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if _, err := UserNS(nil, []specs.LinuxIDMapping{{Size: 1}}, nil); !errdefs.IsInvalidArgument(err) {
		t.Errorf("no uid mappings: %v, want InvalidArgument", err)
	}
}

func children(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		c, _ := os.ReadFile("/proc/self/task/" + e.Name() + "/children")
		n += len(strings.Fields(string(c)))
	}
	return n
}
