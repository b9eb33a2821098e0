package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/api/types"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"google.golang.org/protobuf/proto"
)

func shimBinary() string { return filepath.Join(testEnv.repo, "bin", "containerd-shim-raind-v2") }

func TestShimInfoAndVersion(t *testing.T) {
	out, err := exec.Command(shimBinary(), "-v").Output()
	if err != nil || !strings.Contains(string(out), "containerd-shim-raind-v2") || !strings.Contains(string(out), "Version") {
		t.Fatalf("-v: %v %q", err, out)
	}
	cmd := exec.Command(shimBinary(), "-info")
	cmd.Stdin = strings.NewReader("")
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("-info: %v", err)
	}
	var info types.RuntimeInfo
	if err := proto.Unmarshal(raw, &info); err != nil {
		t.Fatalf("parse RuntimeInfo: %v", err)
	}
	if info.Name != runtimeName {
		t.Fatalf("name %q", info.Name)
	}
	v, err := typeurl.UnmarshalAny(info.Features)
	if err != nil {
		t.Fatalf("features: %v", err)
	}
	f, ok := v.(*features.Features)
	if !ok {
		t.Fatalf("features are %T", v)
	}
	ns := strings.Join(f.Linux.Namespaces, ",")
	if !strings.Contains(ns, "pid") || !strings.Contains(ns, "user") || !strings.Contains(ns, "time") || !*f.Linux.Seccomp.Enabled {
		t.Fatalf("features claim %q seccomp %v", ns, *f.Linux.Seccomp.Enabled)
	}
	if sc := f.Linux.Seccomp; !slices.Contains(sc.Actions, "SCMP_ACT_NOTIFY") || !slices.Contains(sc.Operators, "SCMP_CMP_MASKED_EQ") ||
		!slices.Contains(sc.KnownFlags, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") || !slices.Contains(sc.Archs, "SCMP_ARCH_X86_64") {
		t.Fatalf("seccomp features %+v", sc)
	}
}

// TestGroupedContainersShareShim: containers of one sandbox id are served
// by one shim process.
func TestGroupedContainersShareShim(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	group := newID("grp")
	_, shim := anchor(t, ctx, group)
	c := newClient(t)
	ctr, err := c.NewContainer(ctx, newID("member"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("sleep", "100"), withSandbox(group)), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx))
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	children, _ := os.ReadFile(filepathJoinPid(shim, "task", itoa(shim), "children"))
	if !strings.Contains(" "+string(children), " "+itoa(int(task.Pid()))+" ") {
		t.Fatalf("member's init %d is not a child of the group's shim %d (children %q)", task.Pid(), shim, children)
	}
}

// TestDeadShimCleanup kills a shim outright; containerd then runs the shim's
// delete action, which must leave no process, mount or cgroup behind.
func TestDeadShimCleanup(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	c := newClient(t)
	img := importBusyboxImage(t, c)
	id := newID("dead")
	before := shimPids(t)
	ctr, err := c.NewContainer(ctx, id, containerd.WithNewSnapshot(id+"-snap", img), containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sh", "-c", "sleep 1000 & sleep 1000")), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup)
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	spec, _ := ctr.Spec(ctx)
	shim := newShim(t, before)
	if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// containerd notices the dead shim, runs `shim delete` and reports
	// the task stopped; the delete then succeeds.
	waitFor(t, "task to stop after its shim died", func() bool {
		st, err := task.Status(ctx)
		return err != nil || st.Status == containerd.Stopped
	})
	_, _ = task.Delete(ctx)
	waitFor(t, "container processes to go", func() bool { return len(procsInCgroup(t, spec.Linux.CgroupsPath)) == 0 })
	// containerd runs the delete action from its own goroutine.
	waitFor(t, "rootfs unmount", func() bool {
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		return !strings.Contains(string(mi), id)
	})
	waitFor(t, "cgroup removal", func() bool {
		_, err := os.Stat(filepath.Join("/sys/fs/cgroup/pids", spec.Linux.CgroupsPath))
		return errors.Is(err, os.ErrNotExist)
	})
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func itoa(i int) string { return strconv.Itoa(i) }

func filepathJoinPid(pid int, parts ...string) string {
	return filepath.Join(append([]string{"/proc", strconv.Itoa(pid)}, parts...)...)
}

// TestShimReapsOrphans: in the host pid namespace an orphaned grandchild
// is re-parented to the shim, a child subreaper, which must reap it.
func TestShimReapsOrphans(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	before := shimPids(t)
	task := startTask(t, ctx, newID("orphan"), nil, oci.WithHostNamespace(specs.PIDNamespace), oci.WithProcessArgs("sh", "-c", "(sleep 0.3 &); sleep 100"))
	shim := newShim(t, before)
	// The orphan appears as the shim's child, then must vanish: no zombie.
	sawOrphan := false
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		children, _ := os.ReadFile(filepathJoinPid(shim, "task", itoa(shim), "children"))
		kids := strings.Fields(string(children))
		orphans := 0
		for _, k := range kids {
			if k == itoa(int(task.Pid())) {
				continue
			}
			orphans++
			sawOrphan = true
			stat, _ := os.ReadFile(filepathJoinPid(atoiOr(k), "stat"))
			if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
				time.Sleep(200 * time.Millisecond)
				stat, _ = os.ReadFile(filepathJoinPid(atoiOr(k), "stat"))
				if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
					t.Fatalf("orphan %s left a zombie under the shim", k)
				}
			}
		}
		if sawOrphan && orphans == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sawOrphan {
		t.Fatal("the orphan never reached the shim")
	}
	t.Fatal("the orphan was never reaped")
}

func atoiOr(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
