package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// probeRootfs is a private copy of the busybox rootfs with /probe, a
// static build of testdata/seccomp_probe.c, and /probe-mnt to mount on.
func probeRootfs(t *testing.T) string {
	t.Helper()
	rootfs := copyRootfs(t)
	src, err := filepath.Abs("testdata/seccomp_probe.c")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-static", "-O2", "-Wall", "-o", filepath.Join(rootfs, "probe"), src).CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v: %s", err, out)
	}
	if err := os.Mkdir(filepath.Join(rootfs, "probe-mnt"), 0o755); err != nil {
		t.Fatal(err)
	}
	return rootfs
}

// probeResults parses the probe's "name=result" lines.
func probeResults(t *testing.T, r result) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	return got
}

func errnoResult(e syscall.Errno) string { return fmt.Sprintf("errno:%d", int(e)) }

// withProfile sets the spec's seccomp profile.
func withProfile(p *specs.LinuxSeccomp) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Linux.Seccomp = p
		return nil
	}
}

// withNoNewPrivileges sets no_new_privs either way; it decides where the
// init loads the filter.
func withNoNewPrivileges(on bool) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.NoNewPrivileges = on
		return nil
	}
}

// withDockerProfile sets Docker's default profile, made for the spec as
// it is so far, as Docker does.
func withDockerProfile() oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		p, err := mobyseccomp.GetDefaultProfile(s)
		s.Linux.Seccomp = p
		return err
	}
}

// TestSeccompDefaultProfile: containerd's default profile (what nerdctl
// and ctr --seccomp use) and Docker's deny what they list with their
// errno, in the init and in an exec, with and without no_new_privs. The container gets
// CAP_SYS_ADMIN after the profile was made for one without it, so the
// kernel itself would allow unshare and mount: a denial is seccomp's. A
// run without the profile shows the kernel's own answers.
func TestSeccompDefaultProfile(t *testing.T) {
	rootfs := probeRootfs(t)
	args := []string{"/probe", "unshare", "keyctl", "mount", "clock_settime", "clone3", "getpid"}
	caps := oci.WithAddedCapabilities([]string{"CAP_SYS_ADMIN"})

	plain := probeResults(t, clientRun(t, []oci.SpecOpts{oci.WithRootFSPath(rootfs), caps}, args...))
	if plain["unshare"] != "0" || plain["mount"] != "0" || strings.HasPrefix(plain["keyctl"], "errno") ||
		plain["clock_settime"] != errnoResult(unix.EINVAL) || plain["getpid"] != "0" {
		t.Fatalf("without a profile: %v", plain)
	}

	eperm := errnoResult(unix.EPERM)
	want := map[string]string{
		"unshare": eperm, "keyctl": eperm, "mount": eperm, "clock_settime": eperm,
		// The profile's own errnoRet for clone3, so that libc falls back
		// to clone.
		"clone3": errnoResult(unix.ENOSYS),
		"getpid": "0",
	}
	check := func(t *testing.T, what string, r result) {
		t.Helper()
		got := probeResults(t, r)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s=%s, want %s (all: %v, stderr %q)", what, k, got[k], v, got, r.stderr)
			}
		}
	}
	for _, profile := range []struct {
		name string
		opt  oci.SpecOpts
	}{{"containerd", seccomp.WithDefaultProfile()}, {"docker", withDockerProfile()}} {
		for _, nnp := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/nnp=%v", profile.name, nnp), func(t *testing.T) {
				opts := []oci.SpecOpts{oci.WithRootFSPath(rootfs), profile.opt, caps, withNoNewPrivileges(nnp)}
				check(t, "init", clientRun(t, opts, args...))

				ctx, task := runningWith(t, append(opts, oci.WithProcessArgs("sleep", "1000"))...)
				check(t, "exec", execRun(t, ctx, task, nil, args...))
			})
		}
	}
}

// TestSeccompCtrDefault: ctr run --seccomp, containerd's default profile
// through ctr.
func TestSeccompCtrDefault(t *testing.T) {
	r := ctrRunIn(t, probeRootfs(t), "", []string{"--seccomp"}, "/probe", "clone3", "getpid")
	if got := probeResults(t, r); got["clone3"] != errnoResult(unix.ENOSYS) || got["getpid"] != "0" {
		t.Fatalf("probe %v (stderr %q, exit %d)", got, r.stderr, r.code)
	}
}

// runningWith starts `sleep 1000` (or what opts say) with opts and returns
// its task, deleted when the test ends.
func runningWith(t *testing.T, opts ...oci.SpecOpts) (context.Context, containerd.Task) {
	t.Helper()
	ctx := testCtx(t, 2*time.Minute)
	c := newClient(t)
	ctr, err := c.NewContainer(ctx, newID("seccomp"), containerd.WithNewSpec(append([]oci.SpecOpts{oci.WithProcessArgs("sleep", "1000")}, opts...)...),
		containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		ctr.Delete(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		task.Delete(ctx, containerd.WithProcessKill)
		ctr.Delete(ctx)
	})
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx, task
}

// TestSeccompArgCondition: a rule with a masked argument condition denies
// exactly the calls whose argument matches: personality(0) matches
// (0 & 0xffff == 0), personality(0xffffffff), the query, does not.
func TestSeccompArgCondition(t *testing.T) {
	edom := uint(unix.EDOM)
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: &edom,
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpMaskedEqual, Value: 0xffff, ValueTwo: 0}},
		}},
	}
	r := clientRun(t, []oci.SpecOpts{oci.WithRootFSPath(probeRootfs(t)), withProfile(p)}, "/probe", "personality-linux", "personality-query")
	got := probeResults(t, r)
	if got["personality-linux"] != errnoResult(unix.EDOM) || got["personality-query"] != "0" {
		t.Fatalf("probe %v (stderr %q)", got, r.stderr)
	}
}

// TestSeccompKillProcess: SCMP_ACT_KILL_PROCESS ends the process with
// SIGSYS.
func TestSeccompKillProcess(t *testing.T) {
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActKillProcess}},
	}
	r := clientRun(t, []oci.SpecOpts{oci.WithRootFSPath(probeRootfs(t)), withProfile(p)}, "/probe", "getpid", "getppid")
	if r.code != 128+int(unix.SIGSYS) {
		t.Fatalf("exit %d, want %d (SIGSYS); stdout %q stderr %q", r.code, 128+int(unix.SIGSYS), r.stdout, r.stderr)
	}
}

// TestSeccompBadProfile: a profile the init cannot compile fails task
// creation as InvalidArgument, naming the field.
func TestSeccompBadProfile(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	c := newClient(t)
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: "SCMP_ACT_SOMETIMES"}}}
	ctr, err := c.NewContainer(ctx, newID("badseccomp"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("true"), withProfile(p)),
		containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx))
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err == nil {
		task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		t.Fatal("task created")
	}
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "syscalls[0].action") {
		t.Fatalf("err %v, want InvalidArgument naming syscalls[0].action", err)
	}
}

// seccompNotif and seccompNotifResp are the kernel's struct seccomp_notif
// and struct seccomp_notif_resp.
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// agentResult is what the test's seccomp agent saw.
type agentResult struct {
	state specs.ContainerProcessState
	nfds  int
	nr    int32
	err   error
}

// runAgent accepts one connection on ln, reads the state and listener,
// answers one notification with 4242 if answer is set, and reports.
func runAgent(ln *net.UnixListener, answer bool, done chan<- agentResult) {
	var res agentResult
	defer func() { done <- res }()
	_ = ln.SetDeadline(time.Now().Add(time.Minute))
	conn, err := ln.AcceptUnix()
	if err != nil {
		res.err = err
		return
	}
	defer conn.Close()
	buf, oob := make([]byte, 1<<16), make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		res.err = err
		return
	}
	if err := json.Unmarshal(buf[:n], &res.state); err != nil {
		res.err = fmt.Errorf("state %q: %w", buf[:n], err)
		return
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		res.err = fmt.Errorf("control messages %d: %v", len(msgs), err)
		return
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		res.err = err
		return
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	res.nfds = len(fds)
	fd := fds[0]
	defer unix.Close(fd)
	if !answer {
		return
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 30_000); err != nil || n != 1 {
		res.err = fmt.Errorf("no notification: %d %v", n, err)
		return
	}
	var req seccompNotif
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req))); e != 0 {
		res.err = fmt.Errorf("NOTIF_RECV: %w", e)
		return
	}
	res.nr = req.Nr
	resp := seccompNotifResp{ID: req.ID, Val: 4242}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp))); e != 0 {
		res.err = fmt.Errorf("NOTIF_SEND: %w", e)
	}
}

// TestSeccompNotify: SCMP_ACT_NOTIFY's listener reaches the agent on
// listenerPath with the container process state, the agent's answer is
// what the container's syscall returns, and the shim keeps no copy.
func TestSeccompNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan agentResult, 1)
	go runAgent(ln, true, done)

	p := &specs.LinuxSeccomp{
		DefaultAction:    specs.ActAllow,
		ListenerPath:     sock,
		ListenerMetadata: "raind-test-metadata",
		Syscalls:         []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActNotify}},
	}
	r := clientRun(t, []oci.SpecOpts{oci.WithRootFSPath(probeRootfs(t)), withProfile(p)}, "/probe", "getppid")
	res := <-done
	if res.err != nil {
		t.Fatalf("agent: %v", res.err)
	}
	if got := probeResults(t, r); got["getppid"] != "4242" {
		t.Errorf("getppid returned %q, want the agent's 4242 (stderr %q)", got["getppid"], r.stderr)
	}
	st := res.state
	if st.Version == "" || len(st.Fds) != 1 || st.Fds[0] != specs.SeccompFdName || res.nfds != 1 || st.Pid <= 0 ||
		st.Metadata != "raind-test-metadata" || !strings.HasPrefix(st.State.ID, "cli-") || st.State.Status != specs.StateCreated ||
		st.State.Pid != st.Pid || st.State.Bundle == "" {
		t.Errorf("agent got state %+v with %d fds", st, res.nfds)
	}
	if res.nr != unix.SYS_GETPPID {
		t.Errorf("notified syscall %d, want getppid (%d)", res.nr, unix.SYS_GETPPID)
	}
	for _, pid := range shimPids(t) {
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
		for _, fd := range fds {
			if l, _ := os.Readlink(fd); strings.Contains(l, "seccomp") {
				t.Errorf("shim %d still holds %s", pid, l)
			}
		}
	}
}

// TestSeccompNotifyExec: an exec's listener reaches the agent too, with
// the running container's state: its init's pid, not the exec's.
func TestSeccompNotifyExec(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		ListenerPath:  sock,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActNotify}},
	}
	// The init's own hand-over (sleep never calls getppid).
	done := make(chan agentResult, 1)
	go runAgent(ln, false, done)
	ctx, task := runningWith(t, oci.WithRootFSPath(probeRootfs(t)), withProfile(p))
	initRes := <-done
	if initRes.err != nil || initRes.state.State.Status != specs.StateCreated || initRes.state.Pid != int(task.Pid()) {
		t.Fatalf("init hand-over: %+v, task pid %d", initRes, task.Pid())
	}

	go runAgent(ln, true, done)
	r := execRun(t, ctx, task, nil, "/probe", "getppid")
	res := <-done
	if res.err != nil {
		t.Fatalf("agent: %v", res.err)
	}
	if got := probeResults(t, r); got["getppid"] != "4242" {
		t.Errorf("getppid returned %q, want the agent's 4242 (stderr %q)", got["getppid"], r.stderr)
	}
	st := res.state
	if st.State.Status != specs.StateRunning || st.State.Pid != int(task.Pid()) || st.Pid <= 0 || st.Pid == st.State.Pid {
		t.Errorf("exec hand-over state %+v, init pid %d", st, task.Pid())
	}
}
