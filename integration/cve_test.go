package integration

// The known escapes from runc's history, each attempted against raind:
// a container (or a racing one beside it) does what the exploit did, and
// the test checks that it gets nowhere and that the host is untouched.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// attackRootfs is a private busybox rootfs with /cve_attack, a static
// build of testdata/cve_attack.c.
func attackRootfs(t *testing.T) string {
	t.Helper()
	rootfs := copyRootfs(t)
	src, err := filepath.Abs("testdata/cve_attack.c")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-static", "-O2", "-Wall", "-o", filepath.Join(rootfs, "cve_attack"), src).CombinedOutput(); err != nil {
		t.Fatalf("build the attacker: %v: %s", err, out)
	}
	return rootfs
}

// hostBinaries hashes the shim and the init as the test installed them:
// what a CVE-2019-5736 overwrite would change.
func hostBinaries(t *testing.T) map[string][sha256.Size]byte {
	t.Helper()
	sums := map[string][sha256.Size]byte{}
	for _, p := range []string{testEnv.shim(), filepath.Join(filepath.Dir(testEnv.shim()), "raind-init")} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sums[p] = sha256.Sum256(b)
	}
	return sums
}

func checkHostBinaries(t *testing.T, before map[string][sha256.Size]byte) {
	t.Helper()
	for p, sum := range hostBinaries(t) {
		if sum != before[p] {
			t.Errorf("%s changed during the attack", p)
		}
	}
}

// runAttacker starts rootfs's /cve_attack with args as the container's
// process and returns its task and output; the task is deleted when the
// test ends.
func runAttacker(t *testing.T, ctx context.Context, rootfs string, opts []oci.SpecOpts, args ...string) (containerd.Task, <-chan containerd.ExitStatus, *syncBuffer) {
	t.Helper()
	c := newClient(t)
	all := append([]oci.SpecOpts{oci.WithRootFSPath(rootfs), oci.WithProcessArgs(append([]string{"/cve_attack"}, args...)...)}, opts...)
	ctr, err := c.NewContainer(ctx, newID("cve"), containerd.WithNewSpec(all...), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctr.Delete(context.WithoutCancel(ctx)) })
	out := &syncBuffer{}
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		t.Fatalf("new task: %v", err)
	}
	t.Cleanup(func() { _, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill) })
	ch, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	return task, ch, out
}

// execQuiet runs args in task and returns its exit code (-1 if it did not
// start), leaving its output out.
func execQuiet(t *testing.T, ctx context.Context, task containerd.Task, args ...string) int {
	t.Helper()
	spec, err := task.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pspec := *spec.Process
	pspec.Args = args
	p, err := task.Exec(ctx, newID("x"), &pspec, cio.NewCreator(cio.WithStreams(nil, io.Discard, io.Discard)))
	if err != nil {
		return -1
	}
	defer func() { _, _ = p.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill) }()
	ch, err := p.Wait(ctx)
	if err != nil {
		return -1
	}
	if err := p.Start(ctx); err != nil {
		return -1
	}
	code, _, _ := (<-ch).Result()
	return int(code)
}

// TestCVE20195736 is the /proc/self/exe overwrite. A process in the
// container gets hold of the runtime's own binary through /proc/<pid>/exe
// of a process running it, and reopens it for writing once that process
// has gone and the binary is no longer busy (ETXTBSY); what it would write
// runs as root on the host at the next container start. Two ways in:
//
//   - a plain container whose exec'd program is a link to /proc/self/exe:
//     raind's init execs it and so runs raind-init again, now as an
//     ordinary, dumpable container process;
//   - a privileged container (CAP_SYS_PTRACE) that catches raind's exec
//     init itself while it enters the container: PR_SET_DUMPABLE 0 does not
//     stop a process with CAP_SYS_PTRACE over the host's user namespace.
//
// The attacker only opens for writing; the test wants that refused even
// when the binary is idle (not ETXTBSY, which lasts only while it runs),
// and the host's shim and init unchanged.
func TestCVE20195736(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []oci.SpecOpts
		victim []string
	}{
		{"self-exe-link", nil, []string{"/bin/evil"}},
		{"privileged-ptrace", []oci.SpecOpts{oci.WithPrivileged}, []string{"true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hostBinaries(t)
			rootfs := attackRootfs(t)
			if err := os.Symlink("/proc/self/exe", filepath.Join(rootfs, "bin", "evil")); err != nil {
				t.Fatal(err)
			}
			ctx := testCtx(t, 2*time.Minute)
			task, exited, out := runAttacker(t, ctx, rootfs, tc.opts, "exe", "30")
			for i := 0; i < 60 && !strings.Contains(out.String(), "caught"); i++ {
				execQuiet(t, ctx, task, tc.victim...)
				time.Sleep(50 * time.Millisecond)
			}
			select {
			case <-exited:
			case <-time.After(45 * time.Second):
				t.Fatalf("attacker still running; output %q", out.String())
			}
			got := out.String()
			t.Logf("attacker: %q", got)
			switch {
			case !strings.Contains(got, "caught pid="):
				t.Fatalf("the attacker never saw raind's binary in the container, so the test proves nothing: %q", got)
			case strings.Contains(got, "write=ok"):
				t.Errorf("the container opened raind's binary for writing (CVE-2019-5736)")
			case strings.Contains(got, "write=errno:26"):
				t.Errorf("raind's binary was refused only as busy (ETXTBSY): once idle it would be writable: %q", got)
			case !strings.Contains(got, "write=errno:"):
				t.Errorf("no write attempt reported: %q", got)
			}
			checkHostBinaries(t, before)
		})
	}
}

// hostOnlyNames are names in the host's / that the busybox rootfs lacks:
// seeing one from inside means the container reached the host's tree.
func hostOnlyNames(t *testing.T) []string {
	t.Helper()
	host, err := os.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range host {
		if _, err := os.Lstat(filepath.Join(busyboxRootfs(t), e.Name())); os.IsNotExist(err) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no name in the host's / that the rootfs lacks")
	}
	return names
}

// escapeProbe lists the cwd, then climbs far above it and lists that: in
// the container both are inside its root.
const escapeProbe = `ls -a; echo ---; cd ../../../../../../../../../../../..; ls -a`

func checkNoHostNames(t *testing.T, what string, r result, hostOnly []string) {
	t.Helper()
	for _, n := range hostOnly {
		for _, l := range strings.Fields(r.stdout) {
			if l == n {
				t.Errorf("%s reached the host: %q is listed (CVE-2024-21626); output %q", what, n, r.stdout)
				return
			}
		}
	}
}

// TestCVE202421626 is the leaked directory fd as cwd: runc's init kept a
// host directory (a cgroup) open, and process.cwd /proc/self/fd/N made
// that the container's cwd, outside its root, from where ../.. walks the
// host. Every fd number the init might hold is tried, for the init and
// for exec: the process must either fail to start or stay in its root.
func TestCVE202421626(t *testing.T) {
	hostOnly := hostOnlyNames(t)
	for fd := 3; fd <= 10; fd++ {
		cwd := fmt.Sprintf("/proc/self/fd/%d", fd)
		t.Run(fmt.Sprintf("init-fd%d", fd), func(t *testing.T) {
			r, err := runMaybe(t, []oci.SpecOpts{oci.WithProcessCwd(cwd)}, "sh", "-c", escapeProbe)
			if err == nil {
				checkNoHostNames(t, "an init with cwd "+cwd, r, hostOnly)
			}
		})
	}
	ctx, _, task := runningContainer(t)
	for fd := 3; fd <= 10; fd++ {
		cwd := fmt.Sprintf("/proc/self/fd/%d", fd)
		t.Run(fmt.Sprintf("exec-fd%d", fd), func(t *testing.T) {
			spec, err := task.Spec(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pspec := *spec.Process
			pspec.Args = []string{"sh", "-c", escapeProbe}
			pspec.Cwd = cwd
			var out bytes.Buffer
			p, err := task.Exec(ctx, newID("x"), &pspec, cio.NewCreator(cio.WithStreams(nil, &out, io.Discard)))
			if err != nil {
				return
			}
			defer func() { _, _ = p.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill) }()
			ch, err := p.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Start(ctx); err != nil {
				return
			}
			<-ch
			if _, err := p.Delete(ctx); err != nil {
				t.Fatal(err)
			}
			checkNoHostNames(t, "an exec with cwd "+cwd, result{stdout: out.String()}, hostOnly)
		})
	}
}

// runMaybe runs args in a busybox container with opts; a refusal to
// create or start it is returned, not a test failure.
func runMaybe(t *testing.T, opts []oci.SpecOpts, args ...string) (result, error) {
	t.Helper()
	return runMaybeIn(t, busyboxRootfs(t), false, opts, args...)
}

// runMaybeIn is runMaybe on rootfs, on a terminal if tty is set.
func runMaybeIn(t *testing.T, rootfs string, tty bool, opts []oci.SpecOpts, args ...string) (result, error) {
	t.Helper()
	ctx := testCtx(t, time.Minute)
	c := newClient(t)
	var stdout, stderr bytes.Buffer
	all := append([]oci.SpecOpts{oci.WithRootFSPath(rootfs), oci.WithProcessArgs(args...)}, opts...)
	ctr, err := c.NewContainer(ctx, newID("cve"), containerd.WithNewSpec(all...), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatalf("new container: %v", err)
	}
	defer func() { _ = ctr.Delete(context.WithoutCancel(ctx)) }()
	copts := []cio.Opt{cio.WithStreams(nil, &stdout, &stderr)}
	if tty {
		copts = []cio.Opt{cio.WithStreams(nil, &stdout, nil), cio.WithTerminal}
	}
	task, err := ctr.NewTask(ctx, cio.NewCreator(copts...))
	if err != nil {
		t.Logf("refused at create: %v", err)
		return result{}, err
	}
	defer func() { _, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill) }()
	ch, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Logf("refused at start: %v", err)
		return result{}, err
	}
	code, _, _ := (<-ch).Result()
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	return result{stdout.String(), stderr.String(), int(code)}, nil
}

// TestCVE202531133 is the masked path whose /dev/null is not the null
// device. Masked files are covered by binding the container's /dev/null
// over them; here the image supplies /dev (the spec mounts no tmpfs
// there) and its /dev/null is a symlink to /proc/sys/kernel/core_pattern,
// so a runtime that binds by path puts a host kernel file where the spec
// wanted nothing. raind must refuse the container, or mask with the real
// null device.
func TestCVE202531133(t *testing.T) {
	rootfs := copyRootfs(t)
	if err := os.Symlink("/proc/sys/kernel/core_pattern", filepath.Join(rootfs, "dev", "null")); err != nil {
		t.Fatal(err)
	}
	noDev := specEdit(func(s *specs.Spec) {
		var keep []specs.Mount
		for _, m := range s.Mounts {
			if m.Destination != "/dev" {
				keep = append(keep, m)
			}
		}
		s.Mounts = keep
		s.Linux.MaskedPaths = []string{"/proc/keys", "/proc/timer_list"}
	})
	r, err := runMaybeIn(t, rootfs, false, []oci.SpecOpts{noDev}, "stat", "-L", "-c", "%n %F %t:%T", "/proc/keys", "/proc/timer_list")
	if err != nil {
		if !strings.Contains(err.Error(), "/dev/null") {
			t.Fatalf("refused, but not for its /dev/null: %v", err)
		}
		return
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 2 {
		t.Fatalf("stat in the container: %+v", r)
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, " character special file 1:3") {
			t.Errorf("masked path is not the null device (CVE-2025-31133): %q", l)
		}
	}
}

// TestCVE202552565 is the /dev/console bind. For a terminal the runtime
// binds the pty slave onto /dev/console before masked and read-only paths
// are applied; here the image supplies /dev (no /dev mount) and its
// /dev/console is a symlink to /proc/sys/kernel/core_pattern, so a bind
// by path lands on that host kernel file instead. raind must refuse, or
// leave core_pattern the procfs file it is.
func TestCVE202552565(t *testing.T) {
	rootfs := copyRootfs(t)
	for name, target := range map[string]string{"console": "/proc/sys/kernel/core_pattern", "ptmx": "pts/ptmx"} {
		if err := os.Symlink(target, filepath.Join(rootfs, "dev", name)); err != nil {
			t.Fatal(err)
		}
	}
	// A real null device, for the masked paths.
	if err := unix.Mknod(filepath.Join(rootfs, "dev", "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	noDev := specEdit(func(s *specs.Spec) {
		var keep []specs.Mount
		for _, m := range s.Mounts {
			if m.Destination != "/dev" {
				keep = append(keep, m)
			}
		}
		s.Mounts = keep
	})
	r, err := runMaybeIn(t, rootfs, true, []oci.SpecOpts{noDev, oci.WithTTY}, "stat", "-c", "%n %F", "/proc/sys/kernel/core_pattern")
	if err != nil {
		if !strings.Contains(err.Error(), "/dev/console") {
			t.Fatalf("refused, but not for its /dev/console: %v", err)
		}
		return
	}
	if got := strings.TrimSpace(strings.ReplaceAll(r.stdout, "\r", "")); got != "/proc/sys/kernel/core_pattern regular empty file" {
		t.Errorf("the console was bound over core_pattern (CVE-2025-52565): %q", got)
	}
}

// TestCVE202130465 is the mount-target symlink swap. Two containers share
// a volume; the attacker's exchanges, as fast as it can, a directory "a"
// with a symlink "b" to a host path; the victim mounts the volume and then
// a tmpfs on /vol/a, a target inside it. A runtime that resolves the
// target and mounts by path later follows the symlink when it wins the
// race, and mounts where the attacker chose. Here the symlink aims at
// <victim rootfs>/evidence, a host path that the victim itself shows at
// /evidence: the tmpfs must never appear there, nor anywhere on the host.
func TestCVE202130465(t *testing.T) {
	const tag = "cve30465"
	vol := t.TempDir()
	victim := copyRootfs(t)
	evidence := filepath.Join(victim, "evidence")
	if err := os.Mkdir(evidence, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(vol, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(evidence, filepath.Join(vol, "b")); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 3*time.Minute)
	share := func(dest string) oci.SpecOpts {
		return oci.WithMounts([]specs.Mount{{Destination: dest, Type: "bind", Source: vol, Options: []string{"rbind", "rw"}}})
	}
	_, _, out := runAttacker(t, ctx, attackRootfs(t), []oci.SpecOpts{share("/v")}, "swap", "/v", "120")
	waitFor(t, "the attacker to start swapping", func() bool { return strings.Contains(out.String(), "swapping") })
	// Twenty mounts on the same target: twenty chances per victim for the
	// swap to fall between resolving the target and mounting on it.
	var mounts []specs.Mount
	for i := 0; i < 20; i++ {
		mounts = append(mounts, specs.Mount{Destination: "/vol/a", Type: "tmpfs", Source: tag, Options: []string{"nosuid", "nodev"}})
	}
	target := oci.WithMounts(mounts)
	started, refused := 0, 0
	for i := 0; i < 50; i++ {
		r, err := runMaybeIn(t, victim, false, []oci.SpecOpts{share("/vol"), target}, "cat", "/proc/self/mountinfo")
		if err != nil {
			refused++
		} else {
			started++
			for _, l := range strings.Split(r.stdout, "\n") {
				if f := strings.Fields(l); len(f) > 4 && f[4] == "/evidence" {
					t.Fatalf("run %d: the victim's tmpfs landed on the symlink's target (CVE-2021-30465): %s", i, l)
				}
			}
		}
		host, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(host), " "+tag+" ") {
			t.Fatalf("run %d: a %s tmpfs is mounted on the host", i, tag)
		}
	}
	if strings.Contains(out.String(), "renameat2") {
		t.Fatalf("the attacker stopped: %q", out.String())
	}
	t.Logf("50 victims: %d started, %d refused (a changed target is refused)", started, refused)
}

// TestCVE202552881 is procfs write redirection. The init writes the spec's
// sysctls under /proc/sys inside the container, where the spec's own
// mounts (a volume, a tmpfs) may cover part of /proc: here a tmpfs on
// /proc/sys/net/ipv4. A runtime that writes by path writes the tmpfs (or,
// with a bind of another procfs file there, that file) and the sysctl
// silently never reaches the kernel. The value must be in the container's
// network namespace, as read from the host, or the container refused.
func TestCVE202552881(t *testing.T) {
	const key, want = "net.ipv4.ip_unprivileged_port_start", "1234"
	cover := specEdit(func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc/sys/net/ipv4", Type: "tmpfs", Source: "cve52881", Options: []string{"nosuid"}})
		s.Linux.Sysctl = map[string]string{key: want}
	})
	ctx := testCtx(t, time.Minute)
	c := newClient(t)
	ctr, err := c.NewContainer(ctx, newID("cve"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("sleep", "1000"), cover),
		containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctr.Delete(context.WithoutCancel(ctx)) })
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		if !strings.Contains(err.Error(), "sysctl") {
			t.Fatalf("refused, but not for its sysctl: %v", err)
		}
		return
	}
	t.Cleanup(func() { _, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill) })
	out, err := exec.Command("nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", task.Pid()), "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start").CombinedOutput()
	if err != nil {
		t.Fatalf("read the sysctl in the container's network namespace: %v %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("%s is %s in the container's network namespace, want %s: the write went to the tmpfs over /proc/sys/net/ipv4 (CVE-2025-52881)", key, got, want)
	}
}
