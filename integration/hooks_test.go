package integration

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/api/types"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"google.golang.org/protobuf/proto"
)

// recordingHook writes a host script that saves, under dir/name.*, its
// stdin (the state), the mount and network namespaces of the state's pid
// and its own, and appends name to dir/order.
func recordingHook(t *testing.T, dir, name string) specs.Hook {
	t.Helper()
	p := filepath.Join(dir, name+".sh")
	body := `#!/bin/sh
out=` + dir + `/` + name + `
cat > $out.state
pid=$(grep -o '"pid":[0-9]*' $out.state | cut -d: -f2)
if [ -n "$pid" ]; then
	readlink /proc/$pid/ns/mnt > $out.pidmnt
	readlink /proc/$pid/ns/net > $out.pidnet
fi
readlink /proc/self/ns/mnt > $out.selfmnt
echo ` + name + ` >> ` + dir + `/order
`
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return specs.Hook{Path: p}
}

func hookFile(t *testing.T, dir, name, what string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+"."+what))
	if err != nil {
		t.Fatalf("hook %s left no %s: %v", name, what, err)
	}
	return strings.TrimSpace(string(b))
}

func hookState(t *testing.T, dir, name string) specs.State {
	t.Helper()
	var st specs.State
	if err := json.Unmarshal([]byte(hookFile(t, dir, name, "state")), &st); err != nil {
		t.Fatalf("%s state: %v", name, err)
	}
	return st
}

func withHooks(h *specs.Hooks) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Hooks = h
		return nil
	}
}

func containerdBinary() string { return filepath.Join(testEnv.cache, "bin", "containerd") }

// TestHooksLifecycle runs every kind of hook through containerd and checks
// when, where and with which state each ran; containerd's own oci-hook
// is one of them.
func TestHooksLifecycle(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	c := newClient(t)
	rootfs := copyRootfs(t)
	dir := t.TempDir()
	// startContainer resolves and runs in the container.
	inside := "#!/bin/sh\ncat > /tmp/start.state\nreadlink /proc/self/ns/mnt > /tmp/start.mnt\n"
	if err := os.WriteFile(filepath.Join(rootfs, "starthook"), []byte(inside), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	ociOut := filepath.Join(dir, "oci-hook")
	h := &specs.Hooks{
		//lint:ignore SA1019 deprecated, but specs still carry it and it is run
		Prestart:        []specs.Hook{recordingHook(t, dir, "prestart")},
		CreateRuntime:   []specs.Hook{recordingHook(t, dir, "createRuntime")},
		CreateContainer: []specs.Hook{recordingHook(t, dir, "createContainer")},
		StartContainer:  []specs.Hook{{Path: "/starthook"}},
		Poststart: []specs.Hook{recordingHook(t, dir, "poststart"), {
			Path: containerdBinary(),
			Args: []string{"containerd", "oci-hook", "--", "/bin/sh", "-c", "echo {{id}} {{pid}} {{status}} {{rootfs}} > " + ociOut},
		}},
		Poststop: []specs.Hook{recordingHook(t, dir, "poststop")},
	}
	id := newID("hooks")
	ctr, err := c.NewContainer(ctx, id, containerd.WithNewSpec(oci.WithRootFSPath(rootfs), oci.WithProcessArgs("sleep", "1000"), withHooks(h)), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx))
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	pid := int(task.Pid())
	selfMnt, _ := os.Readlink("/proc/self/ns/mnt")
	ctrMnt, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
	ctrNet, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if ctrMnt == selfMnt || ctrMnt == "" {
		t.Fatalf("container mount namespace %q", ctrMnt)
	}
	if o, _ := os.ReadFile(filepath.Join(dir, "order")); string(o) != "prestart\ncreateRuntime\ncreateContainer\n" {
		t.Fatalf("hooks run by create: %q", o)
	}
	for _, name := range []string{"prestart", "createRuntime", "createContainer"} {
		st := hookState(t, dir, name)
		if st.Status != specs.StateCreating || st.Pid != pid || st.ID != id || st.Bundle == "" {
			t.Errorf("%s state %+v, want creating with pid %d", name, st, pid)
		}
	}
	for _, name := range []string{"prestart", "createRuntime"} {
		// In the runtime's namespace, with the container's in place.
		if got := hookFile(t, dir, name, "selfmnt"); got == ctrMnt {
			t.Errorf("%s ran in the container's mount namespace", name)
		}
		if got := hookFile(t, dir, name, "pidmnt"); got != ctrMnt {
			t.Errorf("%s saw mount namespace %s, want the container's %s", name, got, ctrMnt)
		}
		if got := hookFile(t, dir, name, "pidnet"); got != ctrNet {
			t.Errorf("%s saw network namespace %s, want the container's %s", name, got, ctrNet)
		}
	}
	if got := hookFile(t, dir, "createContainer", "selfmnt"); got != ctrMnt {
		t.Errorf("createContainer ran in mount namespace %s, want the container's %s", got, ctrMnt)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "tmp", "start.state")); err == nil {
		t.Fatal("startContainer ran before start")
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var st specs.State
	b, err := os.ReadFile(filepath.Join(rootfs, "tmp", "start.state"))
	if err != nil {
		t.Fatalf("startContainer: %v", err)
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Status != specs.StateCreated || st.Pid != pid || st.ID != id {
		t.Errorf("startContainer state %s (%v)", b, err)
	}
	if m, _ := os.ReadFile(filepath.Join(rootfs, "tmp", "start.mnt")); strings.TrimSpace(string(m)) != ctrMnt {
		t.Errorf("startContainer ran in mount namespace %q", m)
	}
	// poststart ran before Start returned.
	if st := hookState(t, dir, "poststart"); st.Status != specs.StateRunning || st.Pid != pid {
		t.Errorf("poststart state %+v", st)
	}
	b, err = os.ReadFile(ociOut)
	if err != nil {
		t.Fatalf("containerd oci-hook: %v", err)
	}
	if got, want := strings.TrimSpace(string(b)), id+" "+strconv.Itoa(pid)+" running "+rootfs; got != want {
		t.Errorf("containerd oci-hook rendered %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "poststop.state")); err == nil {
		t.Fatal("poststop ran before delete")
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-ch
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if st := hookState(t, dir, "poststop"); st.Status != specs.StateStopped || st.ID != id {
		t.Errorf("poststop state %+v", st)
	}
	if o, _ := os.ReadFile(filepath.Join(dir, "order")); string(o) != "prestart\ncreateRuntime\ncreateContainer\npoststart\npoststop\n" {
		t.Errorf("hook order %q", o)
	}
}

// TestFailingCreateRuntimeHook: create fails with the hook's error, and no
// shim, process, mount or cgroup is left.
func TestFailingCreateRuntimeHook(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	c := newClient(t)
	img := importBusyboxImage(t, c)
	dir := t.TempDir()
	fail := filepath.Join(dir, "fail.sh")
	if err := os.WriteFile(fail, []byte("#!/bin/sh\necho 'cni says no' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	id := newID("hookfail")
	before := shimPids(t)
	ctr, err := c.NewContainer(ctx, id, containerd.WithNewSnapshot(id+"-snap", img),
		containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sleep", "100"), withHooks(&specs.Hooks{CreateRuntime: []specs.Hook{{Path: fail}}})),
		containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup)
	spec, err := ctr.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err == nil {
		task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		t.Fatal("create succeeded with a failing createRuntime hook")
	}
	for _, want := range []string{"createRuntime hook", "status 3", "cni says no"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	assertNoNewShims(t, before)
	waitFor(t, "rootfs unmount", func() bool {
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		return !strings.Contains(string(mi), id)
	})
	for _, ctrl := range []string{"memory", "pids", "cpu", "devices", "freezer"} {
		p := filepath.Join("/sys/fs/cgroup", ctrl, spec.Linux.CgroupsPath)
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left behind (%v)", p, err)
		}
	}
	if pids := procsInCgroup(t, spec.Linux.CgroupsPath); len(pids) > 0 {
		t.Errorf("processes left: %v", pids)
	}
}

// TestPoststopAfterShimKilled: when the shim dies, containerd's call of the
// shim's delete action runs the poststop hooks.
func TestPoststopAfterShimKilled(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	dir := t.TempDir()
	id := newID("poststop")
	before := shimPids(t)
	task := startTask(t, ctx, id, nil, oci.WithProcessArgs("sleep", "1000"),
		withHooks(&specs.Hooks{Poststop: []specs.Hook{recordingHook(t, dir, "poststop")}}))
	shim := newShim(t, before)
	if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "poststop hook after the shim died", func() bool {
		_, err := os.Stat(filepath.Join(dir, "order"))
		return err == nil
	})
	if st := hookState(t, dir, "poststop"); st.Status != specs.StateStopped || st.ID != id || st.Bundle == "" {
		t.Errorf("poststop state %+v", st)
	}
	_, _ = task.Delete(ctx)
	if o, _ := os.ReadFile(filepath.Join(dir, "order")); string(o) != "poststop\n" {
		t.Errorf("poststop ran %q", o)
	}
}

// TestPodSysctls: the sysctls Kubernetes puts in every pod are written
// although containerd's default spec makes /proc/sys read-only.
func TestPodSysctls(t *testing.T) {
	sysctls := func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"}
		return nil
	}
	r := clientRun(t, []oci.SpecOpts{sysctls}, "sh", "-c",
		"cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range; grep ' /proc/sys ' /proc/self/mountinfo | grep -q ' ro,' && echo ro")
	if r.stdout != "0\n0\t2147483647\nro\n" || r.code != 0 {
		t.Fatalf("got %q (stderr %q, code %d)", r.stdout, r.stderr, r.code)
	}
}

// TestRsharedRootfs: rootfsPropagation rshared used to fail with "move
// rootfs to /: invalid argument"; the container's root is now shared.
func TestRsharedRootfs(t *testing.T) {
	prop := func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Linux.RootfsPropagation = "rshared"
		return nil
	}
	r := clientRun(t, []oci.SpecOpts{prop}, "sh", "-c", `awk '$5 == "/"' /proc/self/mountinfo`)
	if r.code != 0 || !strings.Contains(r.stdout, " shared:") {
		t.Fatalf("root mount %q (stderr %q, code %d)", r.stdout, r.stderr, r.code)
	}
}

// TestFeaturesListHooks: the shim's -info features name every hook kind.
func TestFeaturesListHooks(t *testing.T) {
	cmd := exec.Command(shimBinary(), "-info")
	cmd.Stdin = strings.NewReader("")
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("-info: %v", err)
	}
	var info types.RuntimeInfo
	if err := proto.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	v, err := typeurl.UnmarshalAny(info.Features)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := v.(*features.Features)
	if !ok {
		t.Fatalf("features are %T", v)
	}
	if got := strings.Join(f.Hooks, ","); got != "prestart,createRuntime,createContainer,startContainer,poststart,poststop" {
		t.Fatalf("hooks %q", got)
	}
}
