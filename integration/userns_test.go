package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// hostRoot is what container root maps to in these tests.
const hostRoot = 100000

var usernsMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostRoot, Size: 65536}}

// reachable opens the directories above p to others: the container's
// root is a stranger to the host, and t.TempDir's are 0700.
func reachable(t *testing.T, p string) {
	t.Helper()
	for d := filepath.Dir(p); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// remappedRootfs is a private copy of the busybox rootfs owned by the
// container's root as the host sees it, as containerd's remapped snapshots
// are, with /bin/euid, a setuid-root binary of the image. chown(2) clears
// set-id bits, so each file gets its mode back afterwards.
func remappedRootfs(t *testing.T) string {
	t.Helper()
	root := copyRootfs(t)
	src, err := filepath.Abs("testdata/euid.c")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-static", "-O2", "-Wall", "-o", filepath.Join(root, "bin", "euid"), src).CombinedOutput(); err != nil {
		t.Skipf("gcc -static: %v %s", err, out)
	}
	if err := os.Chmod(filepath.Join(root, "bin", "euid"), os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if err := os.Lchown(p, int(st.Uid)+hostRoot, int(st.Gid)+hostRoot); err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return unix.Chmod(p, st.Mode&0o7777)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("remap rootfs: %v", err)
	}
	reachable(t, root)
	return root
}

func withUserns(rootfs string) []oci.SpecOpts {
	return []oci.SpecOpts{oci.WithRootFSPath(rootfs), oci.WithUserNamespace(usernsMap, usernsMap)}
}

// runIn creates, starts, waits for and deletes a task of opts (the rootfs
// among them), and returns its output; a failed create or start is an
// error.
func runIn(t *testing.T, opts []oci.SpecOpts, args ...string) (result, error) {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	c := newClient(t)
	var stdout, stderr bytes.Buffer
	ctr, err := c.NewContainer(ctx, newID("uns"), containerd.WithNewSpec(append(opts, oci.WithProcessArgs(args...))...), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatalf("new container: %v", err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx))
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &stdout, &stderr)))
	if err != nil {
		return result{}, err
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	ch, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if err := task.Start(ctx); err != nil {
		return result{}, err
	}
	code, _, err := (<-ch).Result()
	if err != nil {
		t.Fatalf("exit status: %v", err)
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Fatalf("delete: %v", err)
	}
	return result{stdout.String(), stderr.String(), int(code)}, nil
}

func mustRun(t *testing.T, opts []oci.SpecOpts, args ...string) result {
	t.Helper()
	r, err := runIn(t, opts, args...)
	if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return r
}

// TestUsernsIDs: container root is uid 0 inside and 100000 outside: what
// it makes in a host directory is 100000's, a host file of host root's it
// cannot write even through a writable bind mount, and a setuid-root
// binary of the image keeps its bit (the image is the container root's).
func TestUsernsIDs(t *testing.T) {
	rootfs := remappedRootfs(t)
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(shared, hostRoot, hostRoot); err != nil {
		t.Fatal(err)
	}
	hostFile := filepath.Join(t.TempDir(), "hostfile")
	if err := os.WriteFile(hostFile, []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reachable(t, shared)
	reachable(t, hostFile)
	opts := append(withUserns(rootfs), oci.WithMounts([]specs.Mount{
		{Destination: "/shared", Type: "bind", Source: shared, Options: []string{"rbind", "rw"}},
		{Destination: "/hostfile", Type: "bind", Source: hostFile, Options: []string{"rbind", "rw"}},
	}))
	r := mustRun(t, opts, "sh", "-c", `id; touch /shared/made; echo inside > /hostfile; echo write=$?; ls -ln /bin/euid`)
	if !strings.Contains(r.stdout, "uid=0(root) gid=0(root)") {
		t.Errorf("id inside: %q, want uid=0(root) gid=0(root)", r.stdout)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(shared, "made"), &st); err != nil {
		t.Fatalf("file made inside: %v", err)
	}
	if st.Uid != hostRoot || st.Gid != hostRoot {
		t.Errorf("file made by container root owned by %d:%d on the host, want %d:%d", st.Uid, st.Gid, hostRoot, hostRoot)
	}
	if !strings.Contains(r.stderr, "Permission denied") || strings.Contains(r.stdout, "write=0") {
		t.Errorf("write to host root's file: stdout %q stderr %q, want Permission denied", r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(hostFile); string(b) != "host\n" {
		t.Errorf("host file now %q", b)
	}
	if !strings.Contains(r.stdout, "-rwsr-xr-x    1 0        0") {
		t.Errorf("setuid binary inside: %q, want -rwsr-xr-x owned by 0", r.stdout)
	}
}

// TestUsernsSetuidTakesEffect: a user of the container running the
// image's setuid-root binary becomes the container's root: the bit is
// kept and the rootfs is not nosuid. (containerd's default spec sets
// no_new_privs, which would rightly keep the binary from elevating.)
func TestUsernsSetuidTakesEffect(t *testing.T) {
	rootfs := remappedRootfs(t)
	ctx := testCtx(t, 2*time.Minute)
	task := startTask(t, ctx, newID("unsuid"), nil, append(withUserns(rootfs), oci.WithProcessArgs("sleep", "1000"), oci.WithNewPrivileges)...)
	r := execAs(t, ctx, task, 1000, false, "/bin/euid")
	if strings.TrimSpace(r.stdout) != "euid=0 uid=1000" {
		t.Errorf("setuid-root binary run by 1000: %q %q, want euid=0 uid=1000", r.stdout, r.stderr)
	}
}

// execAs runs args in task as uid, with a terminal or not.
func execAs(t *testing.T, ctx context.Context, task containerd.Task, uid uint32, tty bool, args ...string) result {
	t.Helper()
	spec, err := task.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pspec := *spec.Process
	pspec.Args = args
	pspec.User = specs.User{UID: uid, GID: uid}
	pspec.Terminal = tty
	var out, errb bytes.Buffer
	streams := []cio.Opt{cio.WithStreams(nil, &out, &errb)}
	if tty {
		streams = append(streams, cio.WithTerminal)
	}
	p, err := task.Exec(ctx, newID("x"), &pspec, cio.NewCreator(streams...))
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	defer p.Delete(context.WithoutCancel(ctx))
	ch, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatalf("start exec %v: %v", args, err)
	}
	code, _, _ := (<-ch).Result()
	if _, err := p.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), int(code)}
}

func nsLink(t *testing.T, pid int, kind string) string {
	t.Helper()
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// hostUID is the real uid of pid as the host sees it.
func hostUID(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Uid:"); ok {
			return strings.Fields(v)[0]
		}
	}
	return ""
}

// processesIn lists the host's processes in the user namespace ns.
func processesIn(ns string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid)); l == ns {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestUsernsLifecycle: exec (plain and with a terminal) enters the
// container's user namespace and is its root; Stats, Kill and Delete work
// and leave neither a process of the namespace nor its cgroup.
func TestUsernsLifecycle(t *testing.T) {
	rootfs := remappedRootfs(t)
	ctx := testCtx(t, 2*time.Minute)
	id := newID("unlife")
	task := startTask(t, ctx, id, nil, append(withUserns(rootfs), oci.WithProcessArgs("sleep", "1000"))...)
	pid := int(task.Pid())
	userns := nsLink(t, pid, "user")
	if self := nsLink(t, os.Getpid(), "user"); userns == self {
		t.Fatalf("init is in the host's user namespace %s", self)
	}
	if u := hostUID(t, pid); u != strconv.Itoa(hostRoot) {
		t.Errorf("init runs as host uid %s, want %d", u, hostRoot)
	}
	r := execAs(t, ctx, task, 0, false, "sh", "-c", "id; readlink /proc/self/ns/user")
	if !strings.Contains(r.stdout, "uid=0(root)") || !strings.Contains(r.stdout, userns) {
		t.Errorf("exec: %q %q, want uid=0 in %s", r.stdout, r.stderr, userns)
	}
	r = execAs(t, ctx, task, 0, true, "sh", "-c", "tty; id -u; readlink /proc/self/ns/user")
	if out := strings.ReplaceAll(r.stdout, "\r", ""); !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "\n0\n") || !strings.Contains(out, userns) {
		t.Errorf("exec with a terminal: %q, want a pty, uid 0 and %s", r.stdout, userns)
	}
	m, err := task.Metrics(ctx)
	if err != nil || m == nil || m.Data == nil {
		t.Errorf("stats: %v %v", m, err)
	}
	spec, err := task.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killAndWait(t, ctx, task, "a user-namespaced container")
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if left := processesIn(userns); len(left) > 0 {
		t.Errorf("processes left in the container's user namespace: %v", left)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", spec.Linux.CgroupsPath)); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left: %v", spec.Linux.CgroupsPath, err)
	}
}

// TestUsernsReadonlyRootfs: a read-only root in a user namespace, whose
// remount must keep the flags the kernel locked on it.
func TestUsernsReadonlyRootfs(t *testing.T) {
	opts := append(withUserns(remappedRootfs(t)), oci.WithRootFSReadonly())
	r := mustRun(t, opts, "sh", "-c", "touch /x; id -u; grep ' / / ' /proc/self/mountinfo")
	if !strings.Contains(r.stderr, "Read-only file system") || !strings.HasPrefix(r.stdout, "0\n") {
		t.Errorf("stdout %q stderr %q, want uid 0 and a read-only root", r.stdout, r.stderr)
	}
}

// withNamespacePath makes the spec join the namespace at path.
func withNamespacePath(typ specs.LinuxNamespaceType, path string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == typ {
				s.Linux.Namespaces[i].Path = path
				return nil
			}
		}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: path})
		return nil
	}
}

// TestUsernsSharedByPath: the second container of a pod joins the first's
// user namespace by path, with the same mappings (as containerd's CRI
// gives them); other mappings are refused, naming the map.
func TestUsernsSharedByPath(t *testing.T) {
	rootfs := remappedRootfs(t)
	ctx := testCtx(t, 2*time.Minute)
	first := startTask(t, ctx, newID("unpod"), nil, append(withUserns(rootfs), oci.WithProcessArgs("sleep", "1000"))...)
	path := fmt.Sprintf("/proc/%d/ns/user", first.Pid())
	want := nsLink(t, int(first.Pid()), "user")
	r := mustRun(t, append(withUserns(rootfs), withNamespacePath(specs.UserNamespace, path)), "sh", "-c", "readlink /proc/self/ns/user; id -u")
	if r.stdout != want+"\n0\n" {
		t.Errorf("second container: %q %q, want %s and uid 0", r.stdout, r.stderr, want)
	}
	other := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 65536}}
	_, err := runIn(t, []oci.SpecOpts{oci.WithRootFSPath(rootfs), oci.WithUserNamespace(other, other), withNamespacePath(specs.UserNamespace, path)}, "true")
	if err == nil || !strings.Contains(err.Error(), "uid_map") {
		t.Errorf("joining with other mappings: %v, want an error naming uid_map", err)
	}
}

func withTimeOffsets(secs int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: secs}, "boottime": {Secs: secs}}
		return nil
	}
}

func hostUptime(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return v
}

// TestTimensOffsets: a container with a time namespace offset by a day
// sees an uptime a day longer than the host's, alone and in a user
// namespace.
func TestTimensOffsets(t *testing.T) {
	for name, opts := range map[string][]oci.SpecOpts{
		"plain":  {oci.WithRootFSPath(busyboxRootfs(t))},
		"userns": withUserns(remappedRootfs(t)),
	} {
		t.Run(name, func(t *testing.T) {
			opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.TimeNamespace}), withTimeOffsets(86400))
			before := hostUptime(t)
			r := mustRun(t, opts, "cat", "/proc/uptime")
			after := hostUptime(t)
			f := strings.Fields(r.stdout)
			if len(f) == 0 {
				t.Fatalf("uptime: %q %q", r.stdout, r.stderr)
			}
			up, _ := strconv.ParseFloat(f[0], 64)
			if up < before+86400 || up > after+86400+1 {
				t.Errorf("uptime inside %.2f, want the host's (%.2f..%.2f) plus 86400", up, before, after)
			}
		})
	}
}

// TestUsernsOOMScoreAdj: inside its user namespace a process cannot open
// its own oom_score_adj while it is not dumpable (the file is the host
// root's), and a negative one (a Guaranteed pod's) would take the host's
// CAP_SYS_RESOURCE: it is set before the namespace, for init and exec
// alike. (This test host lacks CAP_SYS_RESOURCE itself: a positive value.)
func TestUsernsOOMScoreAdj(t *testing.T) {
	adj := 500
	withAdj := func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.OOMScoreAdj = &adj
		return nil
	}
	ctx := testCtx(t, 2*time.Minute)
	task := startTask(t, ctx, newID("unoom"), nil, append(withUserns(remappedRootfs(t)), oci.WithProcessArgs("sleep", "1000"), withAdj)...)
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", task.Pid())); strings.TrimSpace(string(b)) != "500" {
		t.Errorf("init's oom_score_adj %q, want 500", b)
	}
	if r := execAs(t, ctx, task, 0, false, "cat", "/proc/self/oom_score_adj"); strings.TrimSpace(r.stdout) != "500" {
		t.Errorf("exec's oom_score_adj %q %q, want 500", r.stdout, r.stderr)
	}
}

// TestUsernsMountsFollowKernelRules: sysfs needs a network namespace the
// user namespace owns, so with the host's network the host's /sys is
// bound, read-only all through (the host's cgroup mounts below it come
// along) with the flags the kernel locked on it; the cgroup mount is the
// container's own directories, or a new mount with a cgroup namespace;
// devices are the host's nodes bound in.
func TestUsernsMountsFollowKernelRules(t *testing.T) {
	rootfs := remappedRootfs(t)
	cgroupMount := oci.WithMounts([]specs.Mount{{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
		Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}}})
	script := `grep ' /sys' /proc/self/mountinfo; ls /sys/fs/cgroup/memory/memory.limit_in_bytes; ls /sys/fs/cgroup/memory | grep -c raind-test; echo x > /dev/null && head -c 4 /dev/zero | wc -c; ls -ln /dev/null`
	for name, extra := range map[string][]oci.SpecOpts{
		"host network":     {oci.WithHostNamespace(specs.NetworkNamespace)},
		"host network, cg": {oci.WithHostNamespace(specs.NetworkNamespace), cgroupMount},
		"cgroupns":         {oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace}), cgroupMount},
		"own cgroup":       {cgroupMount},
	} {
		t.Run(name, func(t *testing.T) {
			r := mustRun(t, append(withUserns(rootfs), extra...), "sh", "-c", script)
			var sys, mem string
			for _, l := range strings.Split(r.stdout, "\n") {
				f := strings.Fields(l)
				if len(f) < 9 || !strings.HasPrefix(f[4], "/sys") {
					continue
				}
				// Every mount under /sys, the host's included, read-only.
				if !strings.HasPrefix(f[5], "ro,") && f[5] != "ro" {
					t.Errorf("writable mount under /sys: %q", l)
				}
				switch f[4] {
				case "/sys":
					sys = l
				case "/sys/fs/cgroup/memory":
					mem = l
				}
			}
			if !strings.Contains(sys, "nosuid") {
				t.Errorf("/sys: %q, want nosuid", sys)
			}
			if strings.HasPrefix(name, "host network") && !strings.Contains(sys, " - sysfs ") {
				t.Errorf("/sys with the host's network: %q", sys)
			}
			if len(extra) > 1 || name == "own cgroup" {
				// The container's own cgroup, not the host's tree.
				if mem == "" || !strings.Contains(r.stdout, "memory.limit_in_bytes") || !strings.Contains(r.stdout, "limit_in_bytes\n0\n") {
					t.Errorf("memory cgroup %q: %q %q, want the container's own", mem, r.stdout, r.stderr)
				}
			}
			if !strings.Contains(r.stdout, "\n4\n") {
				t.Errorf("devices unusable: %q %q", r.stdout, r.stderr)
			}
			// The host's node, bound: its owner is the host's root, which
			// the container sees as the overflow id.
			if !strings.Contains(r.stdout, "65534    65534") {
				t.Errorf("/dev/null: %q, want the host's node (owner unmapped)", r.stdout)
			}
		})
	}
}

// TestUsernsInitTerminal: the init's pty is made in the container's own
// devpts, inside its user namespace.
func TestUsernsInitTerminal(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	c := newClient(t)
	var out syncBuffer
	opts := append(withUserns(remappedRootfs(t)), oci.WithProcessArgs("sh", "-c", "tty; id -u; stat -c %u /proc/self/fd/0"), oci.WithTTY)
	ctr, err := c.NewContainer(ctx, newID("untty"), containerd.WithNewSpec(opts...), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx))
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, nil), cio.WithTerminal))
	if err != nil {
		t.Fatal(err)
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	ch, _ := task.Wait(ctx)
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-ch
	waitFor(t, "output", func() bool { return strings.Count(out.String(), "\n") >= 3 })
	got := strings.ReplaceAll(out.String(), "\r", "")
	if !strings.HasPrefix(got, "/dev/pts/0\n0\n0\n") {
		t.Errorf("terminal: %q, want /dev/pts/0, uid 0 and a pty owned by container root", got)
	}
}

// TestTimensExec: an exec joins the container's time namespace.
func TestTimensExec(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	task := startTask(t, ctx, newID("tnexec"), nil, oci.WithProcessArgs("sleep", "1000"),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.TimeNamespace}), withTimeOffsets(86400))
	before := hostUptime(t)
	r := execAs(t, ctx, task, 0, false, "sh", "-c", "cat /proc/uptime; readlink /proc/self/ns/time")
	f := strings.Fields(r.stdout)
	if len(f) < 3 {
		t.Fatalf("exec: %q %q", r.stdout, r.stderr)
	}
	if up, _ := strconv.ParseFloat(f[0], 64); up < before+86400 {
		t.Errorf("uptime in an exec %.2f, want the host's %.2f plus 86400", up, before)
	}
	if want := nsLink(t, int(task.Pid()), "time"); f[2] != want {
		t.Errorf("exec's time namespace %s, want init's %s", f[2], want)
	}
}

// TestUsernsSetupClosedToContainer: CVE-2019-5736 from inside a user
// namespace. While the runtime's own binary is setting up a container
// (here stopped for a createRuntime hook), root of another container in the
// same user and pid namespaces (a pod's) cannot reach it through /proc:
// the process is not dumpable, and its memory belongs to the host's user
// namespace, in which the pod's root has no CAP_SYS_PTRACE. The pod's own
// process, after its execve, is reachable: the check is not vacuous.
func TestUsernsSetupClosedToContainer(t *testing.T) {
	rootfs := remappedRootfs(t)
	ctx := testCtx(t, 2*time.Minute)
	pod := startTask(t, ctx, newID("unpod"), nil, append(withUserns(rootfs), oci.WithProcessArgs("sleep", "1000"))...)
	marks := t.TempDir()
	hook := func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Hooks == nil {
			s.Hooks = &specs.Hooks{}
		}
		s.Hooks.CreateRuntime = append(s.Hooks.CreateRuntime, specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c",
			fmt.Sprintf("cat > %[1]s/state.tmp && mv %[1]s/state.tmp %[1]s/state && while [ ! -e %[1]s/done ]; do sleep 0.1; done", marks)}})
		return nil
	}
	opts := append(withUserns(rootfs),
		withNamespacePath(specs.UserNamespace, fmt.Sprintf("/proc/%d/ns/user", pod.Pid())),
		withNamespacePath(specs.PIDNamespace, fmt.Sprintf("/proc/%d/ns/pid", pod.Pid())),
		hook)
	created := make(chan error, 1)
	go func() {
		_, err := runIn(t, opts, "true")
		created <- err
	}()
	defer func() {
		_ = os.WriteFile(filepath.Join(marks, "done"), nil, 0o644)
		if err := <-created; err != nil {
			t.Errorf("second container: %v", err)
		}
	}()
	var state []byte
	waitWithin(t, 30*time.Second, "the createRuntime hook", func() bool {
		state, _ = os.ReadFile(filepath.Join(marks, "state"))
		return len(state) > 0
	})
	var st specs.State
	if err := json.Unmarshal(state, &st); err != nil || st.Pid <= 0 {
		t.Fatalf("hook state %q: %v", state, err)
	}
	// The setting-up process's pid in the pod's pid namespace.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var nspid string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "NSpid:"); ok {
			f := strings.Fields(v)
			nspid = f[len(f)-1]
		}
	}
	script := fmt.Sprintf(`readlink /proc/%[1]s/exe; echo rc=$?; head -c 1 /proc/%[1]s/exe | wc -c; cat /proc/%[1]s/environ | wc -c; readlink /proc/1/exe`, nspid)
	r := execAs(t, ctx, pod, 0, false, "sh", "-c", script)
	// busybox's readlink fails silently: its exit status tells.
	if !strings.Contains(r.stdout, "rc=1") || strings.Count(r.stderr, "Permission denied") < 2 {
		t.Errorf("the pod's root reached the runtime's process %s (host %d) in set-up: stdout %q stderr %q", nspid, st.Pid, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "/bin/") {
		t.Errorf("the pod's own process unreachable: %q %q", r.stdout, r.stderr)
	}
}
