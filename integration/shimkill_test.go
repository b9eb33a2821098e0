package integration

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// The shim killed with SIGKILL: containerd sees its connection drop, runs
// the shim binary's delete action for each of its tasks and reports them
// exited. Nothing may be left: no process, mount, cgroup, socket or
// bundle file. These tests use the suite's containerd; they disturb
// nothing but their own shims.

// killedShimTask is a container of a shim about to be killed, with what
// the test must see of its end.
type killedShimTask struct {
	ctr  containerd.Container
	task containerd.Task
	wait <-chan containerd.ExitStatus
	tr   containerTrace
}

// startForKill starts a container from the busybox image (so containerd
// mounts an overlay for it) running a shell with a child, in group ("" for
// a shim of its own), with runtime.
func startForKill(t *testing.T, ctx context.Context, c *containerd.Client, runtime, group string) *killedShimTask {
	t.Helper()
	img := importBusyboxImage(t, c)
	id := newID("kill")
	opts := []oci.SpecOpts{oci.WithImageConfig(img), oci.WithProcessArgs("sh", "-c", "sleep 1000 & sleep 1000")}
	if group != "" {
		opts = append(opts, withSandbox(group))
	}
	ctr, err := c.NewContainer(ctx, id, containerd.WithNewSnapshot(id+"-snap", img), containerd.WithNewSpec(opts...), containerd.WithRuntime(runtime, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctr.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup) })
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill) })
	ch, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return &killedShimTask{ctr: ctr, task: task, wait: ch, tr: traceOf(t, ctx, testEnv, ctr)}
}

// killShimAndCheck kills the shim of tasks (one shim for all) with SIGKILL
// and checks that each task reports an exit (Wait and TaskExit) and that,
// once deleted, nothing of it is left.
func killShimAndCheck(t *testing.T, ctx context.Context, exits *taskExits, tasks []*killedShimTask) {
	t.Helper()
	shim := tasks[0].tr.shim
	for _, k := range tasks {
		k.tr.shim = shim
		if k.tr.socket != tasks[0].tr.socket {
			t.Fatalf("%s: socket %s, not the shim's %s", k.tr.id, k.tr.socket, tasks[0].tr.socket)
		}
	}
	if _, err := os.Lstat(tasks[0].tr.socket); err != nil {
		t.Fatalf("shim socket before the kill: %v", err)
	}
	if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, k := range tasks {
		select {
		case st := <-k.wait:
			t.Logf("%s: Wait returned %d after its shim died", k.tr.id, st.ExitCode())
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: Wait never returned after its shim died", k.tr.id)
		}
		t.Logf("%s: TaskExit statuses %v", k.tr.id, exits.expect(t, k.tr.id))
		if _, err := k.task.Delete(ctx); err != nil {
			t.Logf("%s: task delete after the shim died: %v", k.tr.id, err)
		}
		if err := k.ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			t.Errorf("%s: container delete: %v", k.tr.id, err)
		}
	}
	for _, k := range tasks {
		assertGone(t, k.tr)
	}
}

func TestShimKillSingle(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	c := newClient(t)
	exits := subscribeExits(t, ctx, c)
	killShimAndCheck(t, ctx, exits, []*killedShimTask{startForKill(t, ctx, c, runtimeName, "")})
}

// TestShimKillPod: one shim serves three containers of a pod (the CRI
// sandbox annotation); killed, it leaves nothing of any of them.
func TestShimKillPod(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	c := newClient(t)
	exits := subscribeExits(t, ctx, c)
	group := newID("killpod")
	var tasks []*killedShimTask
	for range 3 {
		tasks = append(tasks, startForKill(t, ctx, c, runtimeName, group))
	}
	killShimAndCheck(t, ctx, exits, tasks)
}

// TestShimKillRuncSocket does the same with containerd's runc shim, to
// compare: it reports whether the runc shim leaves its socket (it does not
// fail on it; raind's own tests above do).
func TestShimKillRuncSocket(t *testing.T) {
	if _, err := os.Stat(testEnv.cache + "/bin/containerd-shim-runc-v2"); err != nil {
		t.Skip("no runc shim: RAIND_WITH_RUNC=1 hack/install-deps.sh")
	}
	ctx := testCtx(t, 2*time.Minute)
	c := newClient(t)
	k := startForKill(t, ctx, c, "io.containerd.runc.v2", "")
	pid := int(k.task.Pid())
	shim := procParent(t, pid)
	if name := procName(shim); !strings.HasPrefix(name, "containerd-shim") {
		t.Fatalf("the parent of %d is %d (%s), not the runc shim", pid, shim, name)
	}
	if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-k.wait:
	case <-time.After(30 * time.Second):
		t.Fatal("Wait never returned after the runc shim died")
	}
	_, _ = k.task.Delete(ctx)
	if err := k.ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
		t.Error(err)
	}
	waitFor(t, "the bundle to go", func() bool {
		_, err := os.Stat(k.tr.bundle)
		return errors.Is(err, os.ErrNotExist)
	})
	if _, err := os.Lstat(k.tr.socket); err == nil {
		t.Logf("runc shim: socket %s left after SIGKILL and containerd's cleanup", k.tr.socket)
		// Ours to remove: it is in the suite's private socket directory.
		_ = os.Remove(k.tr.socket)
	} else {
		t.Logf("runc shim: socket %s removed (%v)", k.tr.socket, err)
	}
}
