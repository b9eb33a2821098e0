package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

type fakeCgroup struct{ procs []string }

func (f fakeCgroup) ProcsFiles() []string                 { return f.procs }
func (f fakeCgroup) ExecProcsFiles(int) ([]string, error) { return f.procs, nil }
func (f fakeCgroup) Pids() ([]int, error)                 { return nil, nil }
func (f fakeCgroup) Delete() error                        { return nil }

// cgroup2Dir makes a cgroup under a cgroup2 mount of this host (the unified
// hierarchy of a hybrid host, or the only one), removed at the end.
func cgroup2Dir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, root := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(root, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			continue
		}
		dir := filepath.Join(root, "raind-delegate-test-"+strconv.Itoa(os.Getpid()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Remove(dir) })
		return dir
	}
	t.Skip("no cgroup2 mount")
	return ""
}

// usernsProcess starts a process in a new user namespace mapping 0 to
// 100000 (uid) and 200000 (gid), killed at the end.
func usernsProcess(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 200000, Size: 65536}},
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

func ownerOf(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

// On cgroup2 the container's root gets its cgroup directory and the
// delegatable files; the limits stay the host's.
func TestDelegateCgroup2(t *testing.T) {
	dir := cgroup2Dir(t)
	pid := usernsProcess(t)
	if err := delegateCgroup(fakeCgroup{[]string{filepath.Join(dir, "cgroup.procs")}}, pid); err != nil {
		t.Fatal(err)
	}
	for _, name := range append([]string{"."}, delegatedFiles...) {
		if uid, gid := ownerOf(t, filepath.Join(dir, name)); uid != 100000 || gid != 200000 {
			t.Errorf("%s owned by %d:%d, want 100000:200000", name, uid, gid)
		}
	}
	for _, name := range []string{"cgroup.max.depth", "cgroup.type"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			continue
		}
		if uid, _ := ownerOf(t, filepath.Join(dir, name)); uid != 0 {
			t.Errorf("%s, not delegatable, owned by %d", name, uid)
		}
	}
}

// cgroup v1 (several hierarchies, or a v1 one) is never delegated.
func TestDelegateCgroupV1Untouched(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	pid := usernsProcess(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "cgroup.procs")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cg := range []fakeCgroup{{[]string{f, f}}, {[]string{f}}} {
		if err := delegateCgroup(cg, pid); err != nil {
			t.Fatal(err)
		}
		if uid, _ := ownerOf(t, f); uid != 0 {
			t.Errorf("%v: a non-cgroup2 file chowned to %d", cg.procs, uid)
		}
	}
}

func TestRootID(t *testing.T) {
	p := filepath.Join(t.TempDir(), "uid_map")
	if err := os.WriteFile(p, []byte("         1     300000          5\n         0     100000          1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if id, ok, err := rootID(p); err != nil || !ok || id != 100000 {
		t.Errorf("rootID = %d %v %v, want 100000", id, ok, err)
	}
	if err := os.WriteFile(p, []byte("1 300000 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := rootID(p); err != nil || ok {
		t.Errorf("0 unmapped: ok %v err %v", ok, err)
	}
}
