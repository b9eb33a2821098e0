package seccomp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const childEnv = "RAIND_SECCOMP_TEST_CHILD"

// TestMain lets the test binary be the process a filter is loaded into:
// a filter cannot be taken off again, so it must not be the test's own.
func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "probe":
		os.Exit(loadChild())
	case "notify":
		os.Exit(notifyChild())
	}
	os.Exit(m.Run())
}

// loadChild loads a profile under no_new_privs and prints what three
// probes return: getppid (blocked with errno 42), getpriority with a
// first argument the masked condition matches (errno 43), and one it
// does not match.
func loadChild() int {
	runtime.LockOSThread()
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC",
			specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getppid"}, Action: specs.ActErrno, ErrnoRet: uintp(42)},
			{Names: []string{"getpriority"}, Action: specs.ActErrno, ErrnoRet: uintp(43),
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpMaskedEqual, Value: 0xf0, ValueTwo: 0x70}}},
		},
	}
	f, err := Compile(p)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println(err)
		return 1
	}
	if l, err := f.Load(); err != nil || l != nil {
		fmt.Println("load:", l, err)
		return 1
	}
	probe := func(nr, a0 uintptr) string {
		_, _, e := unix.RawSyscall(nr, a0, 0, 0)
		return fmt.Sprint(int(e))
	}
	fmt.Println(strings.Join([]string{
		probe(unix.SYS_GETPPID, 0),
		probe(unix.SYS_GETPRIORITY, 0x7f),              // 0x7f & 0xf0 == 0x70: blocked
		probe(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS), // 0: allowed
	}, " "))
	return 0
}

// notifyChild loads a notify profile with every flag, which libseccomp
// 2.5 could not load itself (WAIT_KILLABLE_RECV), and prints what the
// listener is.
func notifyChild() int {
	runtime.LockOSThread()
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		ListenerPath:  "/unused",
		Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog,
			specs.LinuxSeccompFlagSpecAllow, specs.LinuxSeccompFlagWaitKillableRecv},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActNotify}},
	}
	f, err := Compile(p)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println(err)
		return 1
	}
	l, err := f.Load()
	if err != nil || l == nil {
		fmt.Println("load:", l, err)
		return 1
	}
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", l.Fd()))
	fmt.Println(link, err)
	return 0
}

func TestLoadNotifyEveryFlag(t *testing.T) {
	if !slices.Contains(Features().SupportedFlags, string(specs.LinuxSeccompFlagWaitKillableRecv)) {
		t.Skip("the kernel lacks SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19)")
	}
	out := runChild(t, "notify")
	if got := strings.TrimSpace(out); got != "anon_inode:seccomp notify <nil>" {
		t.Fatalf("listener %q", got)
	}
}

func runChild(t *testing.T, mode string) string {
	t.Helper()
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
			t.Fatalf("child killed: %v: %s", err, out)
		}
		t.Fatalf("child: %v: %s", err, out)
	}
	return string(out)
}

func TestLoad(t *testing.T) {
	if got := strings.TrimSpace(runChild(t, "probe")); got != "42 43 0" {
		t.Fatalf("probes returned %q, want \"42 43 0\" (getppid errno, masked match, no match)", got)
	}
}
