package nsenter

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

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
}

func needRoot(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
}

// runChild starts the test binary through the constructor with req and
// returns the constructor's report and the child's own output.
func runChild(t *testing.T, req Request) (report, out string) {
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
	cmd.Env = append(env, "RAIND_NSENTER_CHILD=1")
	cmd.ExtraFiles = []*os.File{child}
	cmd.Stdout = w
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Close()
	w.Close()
	line, _ := bufio.NewReader(parent).ReadString('\n')
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
	return report, string(b[:n])
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
