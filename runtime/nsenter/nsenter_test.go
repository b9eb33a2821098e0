package nsenter

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary imports this package, so its constructor runs in every
// child started below; the child then runs TestChildReport, which prints
// what it sees.
func TestChildReport(t *testing.T) {
	if os.Getenv("RAIND_NSENTER_CHILD") == "" {
		t.Skip("helper for the tests below")
	}
	ns := func(kind string) string {
		l, _ := os.Readlink("/proc/self/ns/" + kind)
		return l
	}
	dumpable, _ := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	fmt.Printf("pid=%d mnt=%s uts=%s net=%s ipc=%s dumpable=%d\n", os.Getpid(), ns("mnt"), ns("uts"), ns("net"), ns("ipc"), dumpable)
	groups, _ := unix.Getgroups()
	fmt.Printf("user=%s time=%s uid=%d gid=%d groups=%d\n", ns("user"), ns("time"), os.Getuid(), os.Getgid(), len(groups))
	// The user namespace that owns each of the others (NS_GET_USERNS),
	// as an inode number to compare with user=.
	for _, kind := range []string{"mnt", "uts", "net", "ipc", "pid", "cgroup", "time"} {
		fmt.Printf("owner_%s=%d\n", kind, ownerInode("/proc/self/ns/"+kind))
	}
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	fmt.Printf("monotonic=%d\n", ts.Sec)
	if sg, err := os.ReadFile("/proc/self/setgroups"); err == nil {
		fmt.Printf("setgroups=%s\n", strings.TrimSpace(string(sg)))
	}
	if oom, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		fmt.Printf("oom=%s\n", strings.TrimSpace(string(oom)))
	}
	if up, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(up)); len(f) > 0 {
			fmt.Printf("uptime=%s\n", strings.Split(f[0], ".")[0])
		}
	}
	if dir := os.Getenv("RAIND_NSENTER_TOUCH"); dir != "" {
		if err := os.WriteFile(dir+"/made-inside", nil, 0o644); err != nil {
			fmt.Printf("touch=%v\n", strings.ReplaceAll(err.Error(), " ", "_"))
		}
	}
}

// ownerInode is the inode of the user namespace that owns the namespace
// at path, or 0.
func ownerInode(path string) uint64 {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	owner, err := unix.IoctlRetInt(fd, unix.NS_GET_USERNS)
	if err != nil {
		return 0
	}
	defer unix.Close(owner)
	var st unix.Stat_t
	if err := unix.Fstat(owner, &st); err != nil {
		return 0
	}
	return st.Ino
}

func needRoot(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
}

// runChild starts the test binary through the constructor with req and
// returns the constructor's report and the child's own output.
func runChild(t *testing.T, req Request, extraEnv ...string) (report, out string) {
	report, out, err := runChildMaps(t, req, Maps{}, extraEnv...)
	if err != nil {
		t.Error(err)
	}
	return report, out
}

// runChildMaps is runChild for a request with a new user namespace: it
// answers the constructor's "U<pid>" line with maps, as spawn does.
// Like spawn, it kills the child if the maps cannot be written, and
// returns why.
func runChildMaps(t *testing.T, req Request, maps Maps, extraEnv ...string) (report, out string, mapErr error) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent := os.NewFile(uintptr(fds[0]), "parent")
	child := os.NewFile(uintptr(fds[1]), "child")
	defer parent.Close()
	req.SyncFD = 3
	env, err := req.Env()
	if err != nil {
		t.Fatal(err)
	}
	r, w, _ := os.Pipe()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildReport$", "-test.v")
	cmd.Env = append(append(env, "RAIND_NSENTER_CHILD=1"), extraEnv...)
	cmd.ExtraFiles = []*os.File{child}
	cmd.Stdout = w
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Close()
	w.Close()
	br := bufio.NewReader(parent)
	line, _ := br.ReadString('\n')
	if strings.HasPrefix(line, "U") {
		pid, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		if pid != cmd.Process.Pid {
			t.Errorf("map request for %d, not the child %d", pid, cmd.Process.Pid)
		}
		if err := maps.Write(pid); err != nil {
			mapErr = err
			_ = cmd.Process.Kill()
		} else if _, err := parent.Write([]byte{MapAck}); err != nil {
			t.Errorf("ack maps: %v", err)
		}
		line, _ = br.ReadString('\n')
	}
	if strings.HasPrefix(line, "T") {
		pid, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err := WriteTimeOffsets(pid, req.TimeOffsets); err != nil {
			mapErr = err
			_ = cmd.Process.Kill()
		} else if _, err := parent.Write([]byte{TimeAck}); err != nil {
			t.Errorf("ack time offsets: %v", err)
		}
		line, _ = br.ReadString('\n')
	}
	_ = cmd.Wait()
	report = strings.TrimSpace(line)
	if strings.HasPrefix(report, "P") {
		pid, _ := strconv.Atoi(report[1:])
		if pid != cmd.Process.Pid {
			// The forked container process is ours as subreaper.
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, 0, nil)
		}
	}
	b := make([]byte, 64<<10)
	n, _ := r.Read(b)
	r.Close()
	return report, string(b[:n]), mapErr
}

func field(out, key string) string {
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func TestNewNamespacesAndFork(t *testing.T) {
	needRoot(t)
	report, out := runChild(t, Request{NewFlags: unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWNS, Fork: true})
	if !strings.HasPrefix(report, "P") {
		t.Fatalf("report %q", report)
	}
	self, _ := os.Readlink("/proc/self/ns/uts")
	if field(out, "pid") != "1" {
		t.Errorf("child is not pid 1 of a new pid namespace: %q", out)
	}
	if field(out, "uts") == self || field(out, "uts") == "" {
		t.Errorf("uts namespace not new: %q", out)
	}
	// Closed to the container until execve (CVE-2019-5736).
	if field(out, "dumpable") != "0" {
		t.Errorf("child is dumpable: %q", out)
	}
}

// TestJoinMountNamespace proves the point of the constructor: a Go process
// cannot setns into a mount namespace once its runtime has threads.
func TestJoinMountNamespace(t *testing.T) {
	needRoot(t)
	target := exec.Command("sleep", "60")
	target.SysProcAttr = &unix.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWNET | unix.CLONE_NEWIPC}
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = target.Process.Kill(); _ = target.Wait() }()
	pid := target.Process.Pid
	var join []string
	want := map[string]string{}
	for _, kind := range []string{"ipc", "uts", "net", "mnt"} {
		p := fmt.Sprintf("/proc/%d/ns/%s", pid, kind)
		join = append(join, p)
		want[kind], _ = os.Readlink(p)
	}
	report, out := runChild(t, Request{Join: join})
	if !strings.HasPrefix(report, "P") {
		t.Fatalf("report %q", report)
	}
	for kind, w := range want {
		if got := field(out, kind); got != w {
			t.Errorf("%s namespace %q, want %q", kind, got, w)
		}
	}
}

func TestJoinFailureReported(t *testing.T) {
	needRoot(t)
	report, _ := runChild(t, Request{Join: []string{"/nonexistent/ns/net"}})
	if !strings.HasPrefix(report, "E") || !strings.Contains(report, "/nonexistent/ns/net") {
		t.Fatalf("report %q", report)
	}
	report, _ = runChild(t, Request{CgroupProcs: []string{"/nonexistent/cgroup.procs"}})
	if !strings.HasPrefix(report, "E") || !strings.Contains(report, "join cgroup") {
		t.Fatalf("report %q", report)
	}
}

func TestEnvValidation(t *testing.T) {
	if _, err := (Request{SyncFD: 1}).Env(); err == nil {
		t.Error("sync fd 1 accepted")
	}
	if _, err := (Request{SyncFD: 3, Join: []string{"a\nb"}}).Env(); err == nil {
		t.Error("newline in path accepted")
	}
	env, err := (Request{SyncFD: 3, Join: []string{"/a", "/b"}, NewFlags: 0x20000, Fork: true}).Env()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(env, ";")
	for _, want := range []string{"_RAIND_SYNC_FD=3", "_RAIND_NS_JOIN=/a\n/b", "_RAIND_NS_NEW=0x20000", "_RAIND_FORK=1"} {
		if !strings.Contains(got, want) {
			t.Errorf("env %q lacks %q", got, want)
		}
	}
}

func nsInode(t *testing.T, path string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return strconv.FormatUint(st.Ino, 10)
}

// touchDir is a directory anyone may write to, for the child to make a
// file whose owner the host then sees.
func touchDir(t *testing.T) string {
	d := t.TempDir()
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	// t.TempDir's parents are 0700: the container's root, a stranger on
	// the host, must reach it.
	for p := filepath.Dir(d); p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func fileOwner(t *testing.T, path string) (uint32, uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Uid, st.Gid
}

// TestNewUserNamespaceFirst: with a new user namespace, the constructor
// makes it before every other namespace, so that it owns them all (the
// kernel's rules for mounting proc and sysfs and changing the mounts
// follow from that ownership), and becomes its root through the maps the
// spawning side writes.
func TestNewUserNamespaceFirst(t *testing.T) {
	needRoot(t)
	dir := touchDir(t)
	oom := 500
	report, out, err := runChildMaps(t, Request{
		// Inside the user namespace the child could not even open its
		// own oom_score_adj (the host root's while it is not dumpable):
		// set before the user namespace.
		OOMScoreAdj: &oom,
		UserNS:      NewUserNS,
		NewFlags:    unix.CLONE_NEWNS | unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWPID | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME,
		// Written by us, as the spawning side does: the child could not
		// open its own timens_offsets from inside the user namespace.
		TimeOffsets: "monotonic 7200 0\n",
		Fork:        true,
	}, Maps{UID: "0 100000 65536\n", GID: "0 100000 65536\n"}, "RAIND_NSENTER_TOUCH="+dir)
	if err != nil || !strings.HasPrefix(report, "P") {
		t.Fatalf("report %q, output %q", report, out)
	}
	self, _ := os.Readlink("/proc/self/ns/user")
	user := field(out, "user")
	if user == "" || user == self {
		t.Fatalf("user namespace not new: %q", out)
	}
	userIno := strings.TrimSuffix(strings.TrimPrefix(user, "user:["), "]")
	for _, kind := range []string{"mnt", "uts", "net", "ipc", "pid", "cgroup", "time"} {
		if got := field(out, "owner_"+kind); got != userIno {
			t.Errorf("%s namespace owned by user namespace %s, want the new one %s", kind, got, userIno)
		}
	}
	if field(out, "uid") != "0" || field(out, "gid") != "0" || field(out, "groups") != "0" {
		t.Errorf("inside: %q, want uid=0 gid=0 and no supplementary groups", out)
	}
	if field(out, "dumpable") != "0" {
		t.Errorf("child is dumpable: %q", out)
	}
	// A privileged writer leaves setgroups(2) to the container.
	if field(out, "setgroups") != "allow" {
		t.Errorf("setgroups %q, want allow", field(out, "setgroups"))
	}
	if field(out, "oom") != "500" {
		t.Errorf("oom_score_adj %q, want 500", field(out, "oom"))
	}
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	if mono, _ := strconv.ParseInt(field(out, "monotonic"), 10, 64); mono-ts.Sec < 7190 {
		t.Errorf("monotonic clock inside %d, host's %d: offset not applied", mono, ts.Sec)
	}
	if uid, gid := fileOwner(t, dir+"/made-inside"); uid != 100000 || gid != 100000 {
		t.Errorf("file made by root inside owned by %d:%d on the host, want 100000:100000", uid, gid)
	}
}

// TestNewUserNamespaceMapFailure: a map the kernel refuses ends the child
// before it does anything in the namespace.
func TestNewUserNamespaceMapFailure(t *testing.T) {
	needRoot(t)
	report, out, err := runChildMaps(t, Request{UserNS: NewUserNS, NewFlags: unix.CLONE_NEWNS},
		Maps{UID: "0 100000 65536\n0 200000 1\n", GID: "0 100000 65536\n"})
	if err == nil || !strings.Contains(err.Error(), "uid_map") {
		t.Errorf("overlapping uid map: error %v, want one naming uid_map", err)
	}
	if strings.HasPrefix(report, "P") || strings.Contains(out, "uid=") {
		t.Fatalf("child ran with a refused map: report %q, output %q", report, out)
	}
}

// holder starts a process in namespaces of its own for others to join:
// cmd is unshare(1) with its options.
func holder(t *testing.T, args ...string) int {
	t.Helper()
	cmd := exec.Command("unshare", append(args, "sleep", "60")...)
	if err := cmd.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	// With --fork the sleeper is unshare's child; wait until it is there.
	for i := 0; i < 100; i++ {
		if kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); len(strings.TrimSpace(string(kids))) > 0 {
			if c, err := strconv.Atoi(strings.Fields(string(kids))[0]); err == nil {
				return c
			}
		}
		if !strings.Contains(strings.Join(args, " "), "--fork") {
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(l, "/sleep") {
				return pid
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("namespace holder did not start")
	return 0
}

// TestJoinUserNamespaceByPath: the containers of a pod share one user
// namespace. The child joins it and the mount namespace it owns, listed
// mount first, and a network namespace of the host's user namespace (a
// CNI plugin's), which it could not enter from inside the joined user
// namespace: the constructor's passes order the joins.
func TestJoinUserNamespaceByPath(t *testing.T) {
	needRoot(t)
	podCmd := exec.Command("sleep", "60")
	podCmd.SysProcAttr = &unix.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWUTS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 200000, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 200000, Size: 65536}},
	}
	if err := podCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = podCmd.Process.Kill(); _ = podCmd.Wait() }()
	pod := podCmd.Process.Pid
	netns := holder(t, "--net")
	join := []string{
		fmt.Sprintf("/proc/%d/ns/mnt", pod),
		fmt.Sprintf("/proc/%d/ns/net", netns),
		fmt.Sprintf("/proc/%d/ns/user", pod),
		fmt.Sprintf("/proc/%d/ns/uts", pod),
	}
	dir := touchDir(t)
	report, out := runChild(t, Request{Join: join, UserNS: JoinUserNS, NewFlags: unix.CLONE_NEWIPC}, "RAIND_NSENTER_TOUCH="+dir)
	if !strings.HasPrefix(report, "P") {
		t.Fatalf("report %q, output %q", report, out)
	}
	for _, kind := range []string{"user", "mnt", "uts"} {
		want, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pod, kind))
		if got := field(out, kind); got != want {
			t.Errorf("%s namespace %q, want the pod's %q", kind, got, want)
		}
	}
	if want, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", netns)); field(out, "net") != want {
		t.Errorf("net namespace %q, want %q", field(out, "net"), want)
	}
	// The new ipc namespace comes after the joined user namespace: it is
	// the pod's user namespace that owns it.
	if got, want := field(out, "owner_ipc"), nsInode(t, fmt.Sprintf("/proc/%d/ns/user", pod)); got != want {
		t.Errorf("new ipc namespace owned by user namespace %s, want the joined %s", got, want)
	}
	if field(out, "uid") != "0" || field(out, "groups") != "0" {
		t.Errorf("inside: %q, want uid=0 and no supplementary groups", out)
	}
	if uid, _ := fileOwner(t, dir+"/made-inside"); uid != 200000 {
		t.Errorf("file made inside owned by %d on the host, want 200000", uid)
	}
}

// TestTimeNamespace: a new time namespace with offsets, which the forked
// container process sees, and one joined by path.
func TestTimeNamespace(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("no time namespaces")
	}
	hostMono := func() int64 {
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		return ts.Sec
	}
	check := func(name, out string, offset int64) {
		t.Helper()
		host := hostMono()
		mono, _ := strconv.ParseInt(field(out, "monotonic"), 10, 64)
		up, _ := strconv.ParseInt(field(out, "uptime"), 10, 64)
		if d := mono - host; d < offset-5 || d > offset+1 {
			t.Errorf("%s: CLOCK_MONOTONIC %d is %d ahead of the host's, want %d", name, mono, d, offset)
		}
		if d := up - host; d < offset-5 || d > offset+5 {
			t.Errorf("%s: /proc/uptime %d is %d ahead of the host's monotonic clock, want about %d", name, up, d, offset)
		}
	}
	report, out := runChild(t, Request{NewFlags: unix.CLONE_NEWTIME, TimeOffsets: "monotonic 86400 0\nboottime 86400 0\n", Fork: true})
	if !strings.HasPrefix(report, "P") {
		t.Fatalf("report %q, output %q", report, out)
	}
	self, _ := os.Readlink("/proc/self/ns/time")
	if field(out, "time") == self {
		t.Errorf("time namespace not new: %q", out)
	}
	check("new", out, 86400)

	h := holder(t, "--time", "--fork", "--monotonic", "3600", "--boottime", "3600")
	report, out = runChild(t, Request{Join: []string{fmt.Sprintf("/proc/%d/ns/time", h)}})
	if !strings.HasPrefix(report, "P") {
		t.Fatalf("report %q, output %q", report, out)
	}
	check("joined", out, 3600)
}

func TestEnvUserAndTime(t *testing.T) {
	for name, r := range map[string]Request{
		"user flag":            {SyncFD: 3, NewFlags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS},
		"offsets without ns":   {SyncFD: 3, TimeOffsets: "monotonic 1 0\n", Fork: true},
		"offsets without fork": {SyncFD: 3, NewFlags: unix.CLONE_NEWTIME, TimeOffsets: "monotonic 1 0\n"},
		"bad mode":             {SyncFD: 3, UserNS: 7},
	} {
		if _, err := r.Env(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	env, err := (Request{SyncFD: 3, UserNS: NewUserNS, NewFlags: unix.CLONE_NEWTIME, TimeOffsets: "boottime 2 3\n", Fork: true}).Env()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(env, ";")
	for _, want := range []string{"_RAIND_USERNS=new", "_RAIND_TIMENS_OFFSETS=1"} {
		if !strings.Contains(got, want) {
			t.Errorf("env %q lacks %q", got, want)
		}
	}
}

// TestDenySetgroups: a writer without CAP_SETGID must deny setgroups(2)
// before it writes the gid map; Maps does it first when asked.
func TestDenySetgroups(t *testing.T) {
	needRoot(t)
	report, out, err := runChildMaps(t, Request{UserNS: NewUserNS, NewFlags: unix.CLONE_NEWNS},
		Maps{UID: "0 100000 1\n", GID: "0 100000 1\n", DenySetgroups: true})
	if err != nil || !strings.HasPrefix(report, "P") {
		t.Fatalf("report %q, err %v, output %q", report, err, out)
	}
	if field(out, "setgroups") != "deny" || field(out, "uid") != "0" {
		t.Errorf("inside: %q, want setgroups deny and uid 0", out)
	}
}
