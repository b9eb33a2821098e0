package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/deprecation"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The cgroup v2 tests run raind under the second containerd of
// cgroupv2daemon_test.go, which sees only the cgroup2 hierarchy. On a
// hybrid host that hierarchy has no memory, cpu, io or pids controller
// (they are bound to v1); what needs one is checked for being refused by
// name, and what works without (cgroup.procs, cgroup.freeze, cgroup.kill,
// cpu.stat, eBPF device filters, hugetlb where offered) end to end.

// v2Container is a started raind container of the v2 containerd running
// `sleep 1000`, with opts; host is its cgroup directory as the test sees
// it. The task and container are removed when the test ends.
type v2Container struct {
	ctx  context.Context
	c    *containerd.Client
	ctr  containerd.Container
	task containerd.Task
	host string
}

func newV2Container(t *testing.T, opts ...oci.SpecOpts) v2Container {
	t.Helper()
	ctx, c, hostRoot := cgroupV2Client(t, 3*time.Minute)
	ctr, task, err := createV2(ctx, c, newID("v2"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
		_ = ctr.Delete(ctx)
	})
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return v2Container{ctx: ctx, c: c, ctr: ctr, task: task, host: filepath.Join(hostRoot, spec.Linux.CgroupsPath)}
}

// createV2 creates the container and its task; on error nothing is left.
func createV2(ctx context.Context, c *containerd.Client, id string, opts ...oci.SpecOpts) (containerd.Container, containerd.Task, error) {
	all := append([]oci.SpecOpts{oci.WithRootFSPath(testEnv.rootfs()), oci.WithProcessArgs("sleep", "1000")}, opts...)
	ctr, err := c.NewContainer(ctx, id, containerd.WithNewSpec(all...), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		return nil, nil, err
	}
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		_ = ctr.Delete(context.WithoutCancel(ctx))
		return nil, nil, err
	}
	return ctr, task, nil
}

// withCgroupfs mounts the container's cgroupfs at /sys/fs/cgroup, as CRI
// and nerdctl do (containerd's default spec has none).
var withCgroupfs = oci.WithMounts([]specs.Mount{{
	Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
	Options: []string{"ro", "nosuid", "noexec", "nodev"},
}})

var withCgroupNS = oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace})

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// cgroupProcs lists the pids in dir's cgroup.procs.
func cgroupProcs(t *testing.T, dir string) []int {
	t.Helper()
	var pids []int
	for _, f := range strings.Fields(readTrim(t, filepath.Join(dir, "cgroup.procs"))) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("cgroup.procs of %s: %q", dir, f)
		}
		pids = append(pids, n)
	}
	return pids
}

// eventField reads one key of a cgroup.events-style file.
func eventField(t *testing.T, path, key string) string {
	t.Helper()
	for _, line := range strings.Split(readTrim(t, path), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return v
		}
	}
	t.Fatalf("%s has no %s", path, key)
	return ""
}

func controllersOf(t *testing.T, dir string) []string {
	t.Helper()
	return strings.Fields(readTrim(t, filepath.Join(dir, "cgroup.controllers")))
}

// TestCgroupV2Harness: the second containerd sees a v2 host (it emits no
// cgroup v1 deprecation, which the first one does on a v1 or hybrid
// host), and its shims share its mount namespace, which is not ours.
func TestCgroupV2Harness(t *testing.T) {
	ctx, c, _ := cgroupV2Client(t, time.Minute)
	deprecated := func(c *containerd.Client) bool {
		t.Helper()
		resp, err := c.IntrospectionService().Server(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range resp.Deprecations {
			if d.ID == string(deprecation.CgroupV1) {
				return true
			}
		}
		return false
	}
	if deprecated(c) {
		t.Error("the v2 containerd warns of cgroup v1: it does not see a v2 host")
	}
	if cgroupV2State.hostRoot != "/sys/fs/cgroup" && !deprecated(newClient(t)) {
		t.Error("the main containerd of a hybrid host does not warn of cgroup v1: the check above proves nothing")
	}
	newV2Container(t) // for a shim to look at
	e, _ := setupCgroupV2(t)
	self, _ := os.Readlink("/proc/self/ns/mnt")
	for _, pid := range shimPidsFor(e.socket) {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
		if err != nil || ns != cgroupV2State.mntns || ns == self {
			t.Errorf("shim %d in mount namespace %q (%v), want the v2 containerd's %q", pid, ns, err, cgroupV2State.mntns)
		}
	}
}

// TestCgroupV2Container: the container's cgroup is a directory of the
// cgroup2 hierarchy holding its init; inside, in a cgroup namespace,
// /sys/fs/cgroup is that cgroup2 with the container's cgroup as its root
// and /proc/self/cgroup says "0::/"; an exec joins the cgroup; delete
// removes the directory and leaves no process.
func TestCgroupV2Container(t *testing.T) {
	v := newV2Container(t, withCgroupNS, withCgroupfs)
	if pids := cgroupProcs(t, v.host); !slices.Contains(pids, int(v.task.Pid())) {
		t.Fatalf("init %d not in %s/cgroup.procs: %v", v.task.Pid(), v.host, pids)
	}
	// The shim, and so the init before it joined, saw a v2 host: no v1
	// hierarchy got a cgroup for the container.
	if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(int(v.task.Pid())), "cgroup")); err != nil {
		t.Fatal(err)
	} else if want := "0::" + strings.TrimPrefix(v.host, cgroupV2State.hostRoot); !strings.Contains(string(b), want+"\n") {
		t.Errorf("init's /proc/pid/cgroup lacks %q:\n%s", want, b)
	}

	r := execRun(t, v.ctx, v.task, nil, "sh", "-c", "cat /proc/self/cgroup; echo ---; grep ' /sys/fs/cgroup ' /proc/self/mountinfo; echo ---; cat /sys/fs/cgroup/cgroup.procs")
	parts := strings.Split(r.stdout, "---\n")
	if r.code != 0 || len(parts) != 3 {
		t.Fatalf("look inside: %+v", r)
	}
	// On a hybrid host the kernel lists the v1 hierarchies too, whatever
	// is mounted: only the v2 line is raind's.
	if !strings.HasSuffix(parts[0], "\n0::/\n") && parts[0] != "0::/\n" {
		t.Errorf("/proc/self/cgroup inside a cgroup namespace on v2: %q, want 0::/", parts[0])
	}
	if f := strings.Fields(parts[1]); len(f) < 9 || f[3] != "/" || !slices.Contains(f, "cgroup2") || !strings.HasPrefix(f[5], "ro") {
		t.Errorf("/sys/fs/cgroup inside is not the container's cgroup2, read-only: %q", parts[1])
	}
	// The exec's shell was in cgroup.procs when it read it.
	if inside := strings.Fields(parts[2]); len(inside) < 2 || !slices.Contains(inside, "1") {
		t.Errorf("cgroup.procs inside lists %v, want init (1) and the exec", inside)
	}

	// An exec joins the container's cgroup.
	spec, err := v.task.Spec(v.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps := *spec.Process
	ps.Args = []string{"sleep", "100"}
	p, err := v.task.Exec(v.ctx, newID("v2exec"), &ps, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := p.Wait(v.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(v.ctx); err != nil {
		t.Fatal(err)
	}
	if pids := cgroupProcs(t, v.host); !slices.Contains(pids, int(p.Pid())) {
		t.Errorf("exec %d not in %s/cgroup.procs: %v", p.Pid(), v.host, pids)
	}
	if err := p.Kill(v.ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-ch
	if _, err := p.Delete(v.ctx); err != nil {
		t.Fatal(err)
	}

	waitCh, err := v.task.Wait(v.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.task.Kill(v.ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-waitCh
	if _, err := v.task.Delete(v.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(v.host); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s left after delete (%v)", v.host, err)
	}
}

// TestCgroupV2NoCgroupNS: without a cgroup namespace the container's
// /sys/fs/cgroup is still its own cgroup (bind-mounted), not the host's
// root, and /proc/self/cgroup shows the full path.
func TestCgroupV2NoCgroupNS(t *testing.T) {
	v := newV2Container(t, withCgroupfs)
	rel := strings.TrimPrefix(v.host, cgroupV2State.hostRoot)
	r := execRun(t, v.ctx, v.task, nil, "sh", "-c", "cat /proc/self/cgroup; echo ---; cat /sys/fs/cgroup/cgroup.procs")
	parts := strings.Split(r.stdout, "---\n")
	if r.code != 0 || len(parts) != 2 {
		t.Fatalf("look inside: %+v", r)
	}
	if !strings.HasSuffix("\n"+parts[0], "\n0::"+rel+"\n") {
		t.Errorf("/proc/self/cgroup %q, want 0::%s", parts[0], rel)
	}
	// Without a pid namespace of its own the host pids would show; with
	// one, the container's cgroup.procs lists pids of the host's pid
	// namespace translated: init is 1.
	if inside := strings.Fields(parts[1]); !slices.Contains(inside, "1") {
		t.Errorf("/sys/fs/cgroup/cgroup.procs inside lists %v, not the container's cgroup", inside)
	}
}

// TestCgroupV2Stats: Stats answers in cgroups/v3's v2 Metrics type with
// the container's cpu usage (cpu.stat needs no controller) and its
// process count.
func TestCgroupV2Stats(t *testing.T) {
	v := newV2Container(t)
	if r := execRun(t, v.ctx, v.task, nil, "sh", "-c", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done"); r.code != 0 {
		t.Fatalf("busy loop: %+v", r)
	}
	m, err := v.task.Metrics(v.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Data.GetTypeUrl() != "io.containerd.cgroups.v2.Metrics" {
		t.Errorf("metrics type %q", m.Data.GetTypeUrl())
	}
	data, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	metrics, ok := data.(*v2stats.Metrics)
	if !ok {
		t.Fatalf("metrics are a %T", data)
	}
	after := eventField(t, filepath.Join(v.host, "cpu.stat"), "usage_usec")
	usage, _ := strconv.ParseUint(after, 10, 64)
	// The loop alone takes milliseconds.
	if metrics.CPU == nil || metrics.CPU.UsageUsec < 1000 || metrics.CPU.UsageUsec > usage {
		t.Errorf("cpu usage %v, want at least 1ms and at most cpu.stat's later %d", metrics.CPU, usage)
	}
	// init alone (sleep) is left: the exec is gone.
	if metrics.Pids == nil || metrics.Pids.Current != 1 {
		t.Errorf("pids %v, want the container's 1 (controllers %v)", metrics.Pids, controllersOf(t, v.host))
	}
	if !slices.Contains(controllersOf(t, v.host), "memory") {
		t.Logf("no memory controller: memory %v", metrics.Memory)
	}
}

// TestCgroupV2PauseResume: Pause writes cgroup.freeze and the kernel
// reports the cgroup frozen; State says paused; Resume thaws; a paused
// container dies of SIGKILL (cgroup.kill) and can be deleted.
func TestCgroupV2PauseResume(t *testing.T) {
	v := newV2Container(t)
	events := filepath.Join(v.host, "cgroup.events")
	if err := v.task.Pause(v.ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := v.task.Status(v.ctx); err != nil || st.Status != containerd.Paused {
		t.Fatalf("status after Pause: %+v %v", st, err)
	}
	if f := eventField(t, events, "frozen"); f != "1" {
		t.Fatalf("cgroup.events frozen %s after Pause", f)
	}
	if s := statusField(t, v.task.Pid(), "State"); !strings.HasPrefix(s, "S") && !strings.HasPrefix(s, "D") {
		t.Logf("frozen init's state %q", s)
	}
	if err := v.task.Pause(v.ctx); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("second Pause: %v", err)
	}
	// A paused container still reports its figures, and refuses execs.
	if _, err := v.task.Metrics(v.ctx); err != nil {
		t.Errorf("Stats of a paused container: %v", err)
	}
	spec, err := v.task.Spec(v.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps := *spec.Process
	ps.Args = []string{"true"}
	if _, err := v.task.Exec(v.ctx, newID("paused-exec"), &ps, cio.NullIO); err == nil || !strings.Contains(err.Error(), "paused") {
		t.Errorf("exec into a paused container: %v", err)
	}
	if err := v.task.Resume(v.ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := v.task.Status(v.ctx); st.Status != containerd.Running {
		t.Fatalf("status after Resume: %v", st.Status)
	}
	if f := eventField(t, events, "frozen"); f != "0" {
		t.Fatalf("cgroup.events frozen %s after Resume", f)
	}
	if r := execRun(t, v.ctx, v.task, nil, "echo", "thawed"); r.stdout != "thawed\n" {
		t.Fatalf("exec after Resume: %+v", r)
	}

	if err := v.task.Pause(v.ctx); err != nil {
		t.Fatal(err)
	}
	killAndWait(t, v.ctx, v.task, "a paused container")
	if _, err := v.task.Delete(v.ctx); err != nil {
		t.Fatalf("delete after kill: %v", err)
	}
	if _, err := os.Stat(v.host); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s left after delete (%v)", v.host, err)
	}
}

// TestCgroupV2Devices: raind's eBPF device filter enforces the spec's
// device rules on v2: containerd's default spec denies every device but a
// few, so a node of /dev/kmsg (c 1:11) made in the container (mknod of any
// node is allowed, as with runc) cannot be opened, even write-only, which
// the kmsg driver itself allows; /dev/null, /dev/zero and /dev/full work.
// An Update allowing c 1:11 w opens it, and keeps the rules in force.
func TestCgroupV2Devices(t *testing.T) {
	v := newV2Container(t)
	// The container is in the root of the v1 devices hierarchy, which
	// allows everything: a refusal is the filter's.
	if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(int(v.task.Pid())), "cgroup")); err != nil {
		t.Fatal(err)
	} else if strings.Contains(string(b), ":devices:/") && !strings.Contains(string(b), ":devices:/\n") {
		t.Fatalf("the container is in a v1 devices cgroup:\n%s", b)
	}
	// Commands and what their output must contain, run in order.
	check := func(when string, cases ...string) {
		t.Helper()
		for i := 0; i+1 < len(cases); i += 2 {
			cmd, want := cases[i], cases[i+1]
			r := execRun(t, v.ctx, v.task, nil, "sh", "-c", cmd)
			if got := r.stdout + r.stderr; !strings.Contains(got, want) {
				t.Errorf("%s: %s: %+v, want %q", when, cmd, r, want)
			}
		}
	}
	check("default rules",
		"mknod /dev/xkmsg c 1 11 && echo made", "made\n",
		"printf '' > /dev/xkmsg && echo opened", "Operation not permitted",
		"echo x > /dev/null && head -c1 /dev/zero | od -An -tx1", " 00\n",
		"echo x > /dev/full", "No space left on device",
		"mknod /dev/xnull c 1 3 && echo y > /dev/xnull && rm /dev/xnull && echo null", "null\n",
	)

	minor := int64(11)
	res := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: ptrInt64(1), Minor: &minor, Access: "w"}}}
	if err := v.task.Update(v.ctx, containerd.WithResources(res)); err != nil {
		t.Fatal(err)
	}
	check("after allowing c 1:11 w",
		"printf '' > /dev/xkmsg && echo opened", "opened\n",
		"echo x > /dev/null && head -c1 /dev/zero | od -An -tx1", " 00\n",
	)

	// A device the spec gives the container (ctr run --device) comes
	// with its rule, which the filter lets through for the access named.
	w := newV2Container(t, oci.WithLinuxDevice("/dev/kmsg", "w"))
	if r := execRun(t, w.ctx, w.task, nil, "sh", "-c", "printf '' > /dev/kmsg && echo opened"); r.stdout != "opened\n" {
		t.Errorf("write-only open of a device the spec allows for writing: %+v", r)
	}
}

func ptrInt64(v int64) *int64 { return &v }

// TestCgroupV2Update: a hugetlb limit (the one controller a hybrid host's
// cgroup2 may offer) is written to hugetlb.<size>.max; a memory, cpu,
// pids, io or cpuset limit without its controller is refused by name, changes nothing (not
// even the part that could be applied) and leaves the container running;
// a container created with one is refused and leaves no cgroup.
func TestCgroupV2Update(t *testing.T) {
	v := newV2Container(t)
	parent := filepath.Dir(v.host)
	hugetlb := slices.Contains(controllersOf(t, parent), "hugetlb")
	if _, err := os.Stat("/sys/kernel/mm/hugepages/hugepages-2048kB"); err != nil {
		hugetlb = false
	}
	maxFile := filepath.Join(v.host, "hugetlb.2MB.max")
	if hugetlb {
		for _, limit := range []uint64{4 << 20, 8 << 20} {
			res := &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: limit}}}
			if err := v.task.Update(v.ctx, containerd.WithResources(res)); err != nil {
				t.Fatal(err)
			}
			if got := readTrim(t, maxFile); got != strconv.FormatUint(limit, 10) {
				t.Fatalf("hugetlb.2MB.max %s after Update to %d", got, limit)
			}
			// Reservations are limited alike where the kernel has them.
			rsvd := filepath.Join(v.host, "hugetlb.2MB.rsvd.max")
			if _, err := os.Stat(rsvd); err == nil {
				if got := readTrim(t, rsvd); got != strconv.FormatUint(limit, 10) {
					t.Fatalf("hugetlb.2MB.rsvd.max %s after Update to %d", got, limit)
				}
			}
		}
		// The same file through the spec's unified map, then back.
		for _, val := range []string{"6291456", strconv.FormatUint(8<<20, 10)} {
			if err := v.task.Update(v.ctx, containerd.WithResources(&specs.LinuxResources{Unified: map[string]string{"hugetlb.2MB.max": val}})); err != nil {
				t.Fatal(err)
			}
			if got := readTrim(t, maxFile); got != val {
				t.Fatalf("hugetlb.2MB.max %s after a unified update to %s", got, val)
			}
		}
	} else {
		t.Log("no hugetlb controller or no 2MB pages: the hugetlb update is not tested")
	}

	limit := int64(64 << 20)
	shares := uint64(512)
	weight := uint16(500)
	for _, c := range []struct {
		res  *specs.LinuxResources
		name string
	}{
		{&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit},
			HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}}}, "memory"},
		{&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares}}, "cpu"},
		{&specs.LinuxResources{Unified: map[string]string{"memory.high": "100M", "hugetlb.2MB.max": "0"}}, "memory"},
		{&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptrInt64(10)}}, "pids"},
		{&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: &weight}}, "io"},
		{&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}}, "cpuset"},
	} {
		if slices.Contains(controllersOf(t, v.host), c.name) {
			t.Logf("the %s controller is offered: its refusal is not tested", c.name)
			continue
		}
		err := v.task.Update(v.ctx, containerd.WithResources(c.res))
		t.Logf("update needing %s: %v", c.name, err)
		if err == nil || !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("update needing the missing %s controller: %v, want NotImplemented naming it", c.name, err)
		}
		if hugetlb {
			if got := readTrim(t, maxFile); got != strconv.FormatUint(8<<20, 10) {
				t.Errorf("a refused update changed hugetlb.2MB.max to %s", got)
			}
		}
		if st, err := v.task.Status(v.ctx); err != nil || st.Status != containerd.Running {
			t.Fatalf("after a refused update: %+v %v", st, err)
		}
	}
	if r := execRun(t, v.ctx, v.task, nil, "echo", "alive"); r.stdout != "alive\n" {
		t.Fatalf("exec after a refused update: %+v", r)
	}

	if slices.Contains(controllersOf(t, parent), "memory") {
		return
	}
	id := newID("v2mem")
	e, _ := setupCgroupV2(t)
	before := shimPidsFor(e.socket)
	_, _, err := createV2(v.ctx, v.c, id, oci.WithMemoryLimit(uint64(limit)))
	t.Logf("create with a memory limit: %v", err)
	if err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("create with a memory limit and no memory controller: %v", err)
	}
	if !errdefs.IsInvalidArgument(err) && !errdefs.IsNotImplemented(err) {
		t.Errorf("create refusal is %v, want InvalidArgument or NotImplemented", err)
	}
	if _, err := os.Stat(filepath.Join(parent, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused create left cgroup %s (%v)", filepath.Join(parent, id), err)
	}
	waitFor(t, "the refused container's shim to exit", func() bool {
		for _, p := range shimPidsFor(e.socket) {
			if !slices.Contains(before, p) {
				return false
			}
		}
		return true
	})
}

// TestCgroupV2DeadShimCleanup: when a shim dies, containerd runs its
// delete action (in the v2 containerd's mount namespace, so on v2), which
// kills the container's processes through the cgroup and removes the
// cgroup directory; a paused container's too, whose processes are frozen.
func TestCgroupV2DeadShimCleanup(t *testing.T) {
	for _, paused := range []bool{false, true} {
		t.Run(fmt.Sprintf("paused=%v", paused), func(t *testing.T) { testDeadShimCleanupV2(t, paused) })
	}
}

func testDeadShimCleanupV2(t *testing.T, paused bool) {
	e, _ := setupCgroupV2(t)
	before := shimPidsFor(e.socket)
	v := newV2Container(t, oci.WithProcessArgs("sh", "-c", "sleep 1000 & sleep 1000"))
	var shim int
	for _, p := range shimPidsFor(e.socket) {
		if !slices.Contains(before, p) {
			shim = p
		}
	}
	if shim == 0 {
		t.Fatal("no new shim")
	}
	waitFor(t, "both sleeps in the cgroup", func() bool { return len(cgroupProcs(t, v.host)) >= 2 })
	pids := cgroupProcs(t, v.host)
	if paused {
		if err := v.task.Pause(v.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "task to stop after its shim died", func() bool {
		st, err := v.task.Status(v.ctx)
		return err != nil || st.Status == containerd.Stopped
	})
	_, _ = v.task.Delete(v.ctx)
	waitFor(t, "cgroup removal", func() bool {
		_, err := os.Stat(v.host)
		return errors.Is(err, os.ErrNotExist)
	})
	// A killed process leaves its cgroup in do_exit a moment before it
	// becomes a zombie, so the cgroup can be gone while it still runs
	// its exit path: give it that moment, not more.
	waitWithin(t, 5*time.Second, fmt.Sprintf("container processes %v to end after their shim's clean-up", pids), func() bool {
		for _, pid := range pids {
			if processAlive(pid) {
				return false
			}
		}
		return true
	})
}

// TestCgroupV2ShimCgroup: the runc options' shim_cgroup puts the shim into
// that v2 cgroup, as containerd's client asks of any runtime.
func TestCgroupV2ShimCgroup(t *testing.T) {
	e, hostRoot := setupCgroupV2(t)
	path := fmt.Sprintf("/%s-shim-%d", cgroupV2Namespace, os.Getpid())
	dir := filepath.Join(hostRoot, path)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The shim leaves with its last container, shortly after the delete.
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for os.Remove(dir) != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	})
	ctx, c, _ := cgroupV2Client(t, time.Minute)
	ctr, err := c.NewContainer(ctx, newID("v2shimcg"), containerd.WithNewSpec(oci.WithRootFSPath(testEnv.rootfs()), oci.WithProcessArgs("sleep", "1000")),
		containerd.WithRuntime(runtimeName, &runcoptions.Options{ShimCgroup: path}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctr.Delete(context.WithoutCancel(ctx)) })
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill) })
	procs := cgroupProcs(t, dir)
	if len(procs) != 1 {
		t.Fatalf("processes in %s: %v, want the shim alone", dir, procs)
	}
	if !slices.Contains(shimPidsFor(e.socket), procs[0]) {
		t.Fatalf("process %d in the shim cgroup is not a shim of the v2 containerd", procs[0])
	}
}

// TestCgroupV2NestedCgroups: a container given a writable cgroupfs in its
// cgroup namespace (as systemd in a container wants) makes a child cgroup,
// moves its init there and enables a controller for it (hugetlb, where the
// hierarchy offers it), after which the kernel takes no process into the
// container's own cgroup: an exec joins init's cgroup, as with runc.
// Stats, Pause and kill reach the whole subtree, and delete removes the
// child cgroup with the container's.
func TestCgroupV2NestedCgroups(t *testing.T) {
	_, hostRoot := setupCgroupV2(t)
	hugetlb := slices.Contains(controllersOf(t, hostRoot), "hugetlb")
	script := "mkdir /sys/fs/cgroup/sub && echo $$ > /sys/fs/cgroup/sub/cgroup.procs && exec sleep 1000"
	opts := []oci.SpecOpts{withCgroupNS,
		oci.WithMounts([]specs.Mount{{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"rw", "nosuid", "noexec", "nodev"}}})}
	if hugetlb {
		// The limit has raind enable hugetlb down to the container.
		opts = append(opts, specEdit(func(s *specs.Spec) {
			s.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}
		}))
		script = strings.Replace(script, "exec sleep", "echo +hugetlb > /sys/fs/cgroup/cgroup.subtree_control && exec sleep", 1)
	}
	v := newV2Container(t, append(opts, oci.WithProcessArgs("sh", "-c", script))...)
	sub := filepath.Join(v.host, "sub")
	waitFor(t, "init in the child cgroup", func() bool {
		b, _ := os.ReadFile(filepath.Join(sub, "cgroup.procs"))
		ctl, _ := os.ReadFile(filepath.Join(v.host, "cgroup.subtree_control"))
		return strings.TrimSpace(string(b)) == strconv.Itoa(int(v.task.Pid())) && (!hugetlb || strings.TrimSpace(string(ctl)) == "hugetlb")
	})
	if hugetlb {
		r := execRun(t, v.ctx, v.task, nil, "cat", "/proc/self/cgroup")
		if r.code != 0 || !strings.HasSuffix(r.stdout, "\n0::/sub\n") {
			t.Errorf("exec into a container whose cgroup has a controller enabled for its children: %+v, want it in init's /sub", r)
		}
	} else {
		t.Log("no hugetlb controller: the exec into a non-leaf cgroup is not tested")
	}
	m, err := v.task.Metrics(v.ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if p := data.(*v2stats.Metrics).Pids; p == nil || p.Current != 1 {
		t.Errorf("pids %v, want init, in the child cgroup", p)
	}
	if err := v.task.Pause(v.ctx); err != nil {
		t.Fatal(err)
	}
	if f := eventField(t, filepath.Join(sub, "cgroup.events"), "frozen"); f != "1" {
		t.Errorf("child cgroup frozen %s while the container is paused", f)
	}
	if err := v.task.Resume(v.ctx); err != nil {
		t.Fatal(err)
	}
	ch, err := v.task.Wait(v.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.task.Kill(v.ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatal("init in a child cgroup survived SIGKILL")
	}
	if _, err := v.task.Delete(v.ctx); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := os.Stat(v.host); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s left after delete (%v)", v.host, err)
	}
}

// TestCgroupV2KillAll: a signal to every process of the container goes
// through the cgroup: SIGTERM by freezing, signalling and thawing (the
// other sleep dies; init, pid 1 of its namespace without a handler, is
// immune) and the cgroup is left thawed; SIGKILL through cgroup.kill.
func TestCgroupV2KillAll(t *testing.T) {
	v := newV2Container(t, oci.WithProcessArgs("sh", "-c", "sleep 1000 & exec sleep 1001"))
	waitFor(t, "both sleeps", func() bool { return len(cgroupProcs(t, v.host)) == 2 })
	if err := v.task.Kill(v.ctx, syscall.SIGTERM, containerd.WithKillAll); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other sleep to die of SIGTERM", func() bool { return len(cgroupProcs(t, v.host)) == 1 })
	if f := eventField(t, filepath.Join(v.host, "cgroup.events"), "frozen"); f != "0" {
		t.Errorf("cgroup frozen %s after a signal to all", f)
	}
	if st, err := v.task.Status(v.ctx); err != nil || st.Status != containerd.Running {
		t.Fatalf("after SIGTERM to all: %+v %v", st, err)
	}
	killAndWait(t, v.ctx, v.task, "SIGKILL to all", containerd.WithKillAll)
}
