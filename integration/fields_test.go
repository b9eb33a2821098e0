package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// specEdit turns a function on the spec into a SpecOpts.
func specEdit(f func(*specs.Spec)) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		f(s)
		return nil
	}
}

// sleepingContainer starts "sleep 1000" with opts and returns its task.
func sleepingContainer(t *testing.T, opts ...oci.SpecOpts) (context.Context, containerd.Task) {
	t.Helper()
	ctx := testCtx(t, 2*time.Minute)
	c := newClient(t)
	all := append([]oci.SpecOpts{oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("sleep", "1000")}, opts...)
	ctr, err := c.NewContainer(ctx, newID("fields"), containerd.WithNewSpec(all...), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctr.Delete(context.WithoutCancel(ctx)) })
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatalf("new task: %v", err)
	}
	t.Cleanup(func() { task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill) })
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	return ctx, task
}

// procStat returns the fields of /proc/pid/stat after the command name,
// numbered as in proc(5) (state is field 3).
func procStat(t *testing.T, pid uint32) map[int]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	out := map[int]string{}
	for i, f := range strings.Fields(rest) {
		out[i+3] = f
	}
	return out
}

func statusField(t *testing.T, pid uint32, key string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return ""
}

func ioprioOf(t *testing.T, pid uint32) uintptr {
	t.Helper()
	const whoProcess = 1
	r, _, e := unix.RawSyscall(unix.SYS_IOPRIO_GET, whoProcess, uintptr(pid), 0)
	if e != 0 {
		t.Fatalf("ioprio_get(%d): %v", pid, e)
	}
	return r
}

func readProc(t *testing.T, pid uint32, name string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestProcessAttributes checks, from the host, what the container's
// process got: scheduling policy and nice (stat fields 41 and 19), I/O
// priority (ioprio_get), execution domain (/proc/pid/personality), CPU
// affinity and memory policy (numa_maps shows the task's policy for
// mappings without one of their own).
func TestProcessAttributes(t *testing.T) {
	_, task := sleepingContainer(t, specEdit(func(s *specs.Spec) {
		s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 7}
		s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE}
		s.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "1"}
		s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32, Flags: []specs.LinuxPersonalityFlag{"ADDR_NO_RANDOMIZE"}}
		s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0"}
	}))
	pid := task.Pid()
	st := procStat(t, pid)
	if st[41] != "3" || st[19] != "7" {
		t.Errorf("policy %s nice %s, want SCHED_BATCH (3) and 7", st[41], st[19])
	}
	if got := ioprioOf(t, pid); got != 3<<13 {
		t.Errorf("ioprio %#x, want idle class (%#x)", got, 3<<13)
	}
	if got := strings.TrimSpace(readProc(t, pid, "personality")); got != "00040008" {
		t.Errorf("personality %s, want 00040008 (LINUX32|ADDR_NO_RANDOMIZE)", got)
	}
	if got := statusField(t, pid, "Cpus_allowed_list"); got != "1" {
		t.Errorf("Cpus_allowed_list %s, want 1", got)
	}
	if maps := readProc(t, pid, "numa_maps"); !strings.Contains(maps, " bind:0 ") {
		t.Errorf("numa_maps without bind:0:\n%s", maps)
	}
}

// TestExecProcessAttributes: an exec gets its own process settings, the
// container's personality, and execCPUAffinity: initial alone stays, final
// replaces it.
func TestExecProcessAttributes(t *testing.T) {
	ctx, task := sleepingContainer(t, specEdit(func(s *specs.Spec) {
		s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	}))
	spec, err := task.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		aff  specs.CPUAffinity
		want string
	}{{specs.CPUAffinity{Initial: "1"}, "1"}, {specs.CPUAffinity{Initial: "1", Final: "0"}, "0"}} {
		p := *spec.Process
		p.Args = []string{"sleep", "1000"}
		p.Scheduler = &specs.Scheduler{Policy: specs.SchedIdle}
		p.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 6}
		aff := tc.aff
		p.ExecCPUAffinity = &aff
		proc, err := task.Exec(ctx, newID("x"), &p, cio.NullIO)
		if err != nil {
			t.Fatalf("exec: %v", err)
		}
		if err := proc.Start(ctx); err != nil {
			proc.Delete(ctx)
			t.Fatalf("start exec: %v", err)
		}
		pid := proc.Pid()
		if st := procStat(t, pid); st[41] != "5" {
			t.Errorf("exec policy %s, want SCHED_IDLE (5)", st[41])
		}
		if got := ioprioOf(t, pid); got != 2<<13|6 {
			t.Errorf("exec ioprio %#x, want %#x", got, 2<<13|6)
		}
		if got := strings.TrimSpace(readProc(t, pid, "personality")); got != "00000008" {
			t.Errorf("exec personality %s, want the container's LINUX32", got)
		}
		if got := statusField(t, pid, "Cpus_allowed_list"); got != tc.want {
			t.Errorf("affinity %+v: Cpus_allowed_list %s, want %s", tc.aff, got, tc.want)
		}
		_ = proc.Kill(ctx, unix.SIGKILL)
		if ch, err := proc.Wait(ctx); err == nil {
			<-ch
		}
		proc.Delete(context.WithoutCancel(ctx))
	}
}

// TestNetDevices moves an interface into the container under a new name,
// with its address, up; it is gone from the host, and the kernel destroys
// it with the container's network namespace. It is one end of a veth pair
// (this host's kernel has no dummy driver), so the other end, which stays
// on the host, goes too.
func TestNetDevices(t *testing.T) {
	const host, peer = "raindtest0", "raindtest1"
	for _, n := range []string{host, peer} {
		if err := testEnv.claimLink(n); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("ip", "link", "add", host, "type", "veth", "peer", "name", peer).CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() })
	if out, err := exec.Command("ip", "addr", "add", "10.231.7.1/24", "dev", host).CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v %s", err, out)
	}
	ctx, task := sleepingContainer(t, specEdit(func(s *specs.Spec) {
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{host: {Name: "moved0"}}
	}))
	r := execRun(t, ctx, task, nil, "ip", "addr", "show", "moved0")
	if r.code != 0 || !strings.Contains(r.stdout, "10.231.7.1/24") || !strings.Contains(r.stdout, ",UP") {
		t.Fatalf("inside: code %d %q %q", r.code, r.stdout, r.stderr)
	}
	if err := exec.Command("ip", "link", "show", host).Run(); err == nil {
		t.Fatalf("%s still on the host", host)
	}
	if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
		t.Fatal(err)
	}
	// Nothing came back under either name, and the pair is gone; the
	// kernel tears a namespace down in the background, so give it time.
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range []string{host, "moved0", peer} {
		for exec.Command("ip", "link", "show", n).Run() == nil {
			if time.Now().After(deadline) {
				t.Errorf("%s on the host after delete", n)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestNetDeviceMissing: a device the host lacks fails Create, and leaves
// no container behind.
func TestNetDeviceMissing(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	c := newClient(t)
	ctr, err := c.NewContainer(ctx, newID("nodev"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("true"),
		specEdit(func(s *specs.Spec) { s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"raindnone0": {}} })), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx))
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err == nil {
		task.Delete(ctx, containerd.WithProcessKill)
		t.Fatal("created a container with a missing net device")
	}
	if !strings.Contains(err.Error(), "raindnone0") {
		t.Errorf("error does not name the device: %v", err)
	}
}

// TestRecursiveReadonlyMount: with rro a mount below the bind is read-only
// too; with ro alone it stays writable.
func TestRecursiveReadonlyMount(t *testing.T) {
	src := t.TempDir()
	sub := filepath.Join(src, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", sub).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", sub).Run() })
	script := "touch /data/top 2>/dev/null && echo top-rw || echo top-ro; touch /data/sub/x 2>/dev/null && echo sub-rw || echo sub-ro"
	for opt, want := range map[string]string{"rro": "top-ro\nsub-ro\n", "ro": "top-ro\nsub-rw\n"} {
		r := clientRun(t, []oci.SpecOpts{oci.WithMounts([]specs.Mount{{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind", opt}}})}, "sh", "-c", script)
		if r.stdout != want {
			t.Errorf("%s: got %q, want %q (stderr %q)", opt, r.stdout, want, r.stderr)
		}
	}
}

// TestSecurityLabelsWithoutLSM: this host runs neither AppArmor nor
// SELinux, and raind does what runc does there: a profile or a process
// label fails the container, saying why.
func TestSecurityLabelsWithoutLSM(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/security/apparmor"); err == nil {
		t.Skip("host runs AppArmor")
	}
	if _, err := os.Stat("/sys/fs/selinux/enforce"); err == nil {
		t.Skip("host runs SELinux")
	}
	for name, tc := range map[string]struct {
		edit func(*specs.Spec)
		want string
	}{
		"apparmor": {func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" }, "AppArmor is not enabled"},
		"selinux":  {func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" }, "selinux is disabled"},
		"idmap": {func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/m", Type: "bind", Source: "/tmp", Options: []string{"rbind"}, UIDMappings: []specs.LinuxIDMapping{{Size: 1}}})
		}, "uidMappings and gidMappings go together"}, // an id-mapped mount needs both (runtime-spec)
	} {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, time.Minute)
			c := newClient(t)
			ctr, err := c.NewContainer(ctx, newID("lsm"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("true"), specEdit(tc.edit)), containerd.WithRuntime(runtimeName, nil))
			if err != nil {
				t.Fatal(err)
			}
			defer ctr.Delete(context.WithoutCancel(ctx))
			var out bytes.Buffer
			task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
			if err == nil {
				task.Delete(ctx, containerd.WithProcessKill)
				t.Fatal("container created")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}
