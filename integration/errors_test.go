package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
)

// expectCtrError runs ctr and wants a failure whose output names want.
func expectCtrError(t *testing.T, want string, args ...string) {
	t.Helper()
	before := shimPids(t)
	out, errOut, code := runCtr(t, 60*time.Second, "", args...)
	if code == 0 {
		t.Fatalf("ctr succeeded: %q", out)
	}
	if !strings.Contains(errOut+out, want) {
		t.Fatalf("error %q does not mention %q", errOut+out, want)
	}
	assertNoNewShims(t, before)
}

// assertNoNewShims waits for shims started since before to go away.
func assertNoNewShims(t *testing.T, before []int) {
	t.Helper()
	old := map[int]bool{}
	for _, p := range before {
		old[p] = true
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []int
		for _, p := range shimPids(t) {
			if !old[p] {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("shims left behind: %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMissingRootfs(t *testing.T) {
	id := newID("norootfs")
	expectCtrError(t, "/nonexistent-rootfs", "run", "--rm", "--runtime", runtimeName, "--rootfs", "/nonexistent-rootfs", id, "true")
	runCtr(t, 20*time.Second, "", "container", "rm", id)
}

func TestMissingExecutable(t *testing.T) {
	id := newID("noexec")
	expectCtrError(t, "no-such-binary", "run", "--rm", "--runtime", runtimeName, "--rootfs", busyboxRootfs(t), id, "/no-such-binary")
	runCtr(t, 20*time.Second, "", "container", "rm", id)
}

func TestMissingMountSource(t *testing.T) {
	id := newID("nomount")
	expectCtrError(t, "/mnt/data", "run", "--rm", "--runtime", runtimeName,
		"--mount", "type=bind,src=/nonexistent-src,dst=/mnt/data,options=rbind:ro",
		"--rootfs", busyboxRootfs(t), id, "true")
	runCtr(t, 20*time.Second, "", "container", "rm", id)
}

func TestBadCwd(t *testing.T) {
	id := newID("badcwd")
	expectCtrError(t, "/no/such/dir", "run", "--rm", "--runtime", runtimeName, "--cwd", "/no/such/dir", "--rootfs", busyboxRootfs(t), id, "true")
	runCtr(t, 20*time.Second, "", "container", "rm", id)
}

func TestUnknownTask(t *testing.T) {
	_, errOut, code := runCtr(t, 20*time.Second, "", "task", "kill", "no-such-task")
	if code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("code %d: %q", code, errOut)
	}
	ctx := testCtx(t, 30*time.Second)
	_, err := newClient(t).LoadContainer(ctx, "no-such-task")
	if !errdefs.IsNotFound(err) {
		t.Fatalf("load: %v", err)
	}
}

// TestInvalidSpec sends a spec the shim must refuse, with no args.
func TestInvalidSpec(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c := newClient(t)
	noArgs := func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.Args = nil
		return nil
	}
	before := shimPids(t)
	ctr, err := c.NewContainer(ctx, newID("badspec"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), noArgs), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx))
	_, err = ctr.NewTask(ctx, cio.NullIO)
	if err == nil || !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "args") {
		t.Fatalf("err %v, want invalid argument about args", err)
	}
	assertNoNewShims(t, before)
}

// TestNothingLeftBehind checks processes, mounts, cgroups and sockets after
// a container ran from an image (so its rootfs was mounted by the shim).
func TestNothingLeftBehind(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	c := newClient(t)
	img := importBusyboxImage(t, c)
	id := newID("clean")
	before := shimPids(t)
	ctr, err := c.NewContainer(ctx, id, containerd.WithNewSnapshot(id+"-snap", img), containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sh", "-c", "sleep 100 & sleep 100 & echo ok")), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := task.Wait(ctx)
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-ch
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
		t.Fatal(err)
	}
	assertNoNewShims(t, before)
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), id) {
		t.Errorf("mounts left for %s", id)
	}
	for _, ctrl := range []string{"memory", "pids", "cpu", "blkio", "devices", "freezer", "systemd"} {
		p := filepath.Join("/sys/fs/cgroup", ctrl, spec.Linux.CgroupsPath)
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left behind (%v)", p, err)
		}
	}
	// The sleeps were in the container's pid namespace: none may remain.
	if pids := procsInCgroup(t, spec.Linux.CgroupsPath); len(pids) > 0 {
		t.Errorf("processes left in %s: %v", spec.Linux.CgroupsPath, pids)
	}
}

// procsInCgroup lists host processes whose cgroup path ends with path.
func procsInCgroup(t *testing.T, path string) []int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasSuffix(line, ":"+path) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// TestUnsupportedRefused: a spec asking for an AppArmor profile is refused
// with NotImplemented rather than run without its profile.
func TestUnsupportedRefused(t *testing.T) {
	id := newID("apparmor")
	expectCtrError(t, "AppArmor", "run", "--rm", "--runtime", runtimeName, "--apparmor-profile", "raind-test", "--rootfs", busyboxRootfs(t), id, "true")
	runCtr(t, 20*time.Second, "", "container", "rm", id)
}

// TestTerminalFromStdio: the task's and the exec's stdio decide whether
// the process gets a terminal, whatever process.terminal says, as with
// containerd's runc shim (containerd's own TestContainerExecLargeOutputWithTTY
// runs a terminal exec of a process spec without one).
func TestTerminalFromStdio(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	c := newClient(t)
	// A spec with a terminal, stdio without: no terminal.
	ctr, err := c.NewContainer(ctx, newID("mismatch"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)),
		oci.WithProcessArgs("sh", "-c", "tty; sleep 1000"), oci.WithTTY), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx))
	var out syncBuffer
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
	if err != nil {
		t.Fatal(err)
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the init's tty line", func() bool { return strings.Contains(out.String(), "not a tty") })

	// A process spec without a terminal, exec stdio with one: a terminal.
	spec, err := ctr.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := *spec.Process
	p.Terminal = false
	p.Args = []string{"tty"}
	var eout syncBuffer
	proc, err := task.Exec(ctx, newID("tty-exec"), &p, cio.NewCreator(cio.WithStreams(nil, &eout, nil), cio.WithTerminal))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := proc.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st := <-ch
	proc.IO().Wait()
	if _, err := proc.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if st.ExitCode() != 0 || !strings.Contains(eout.String(), "/dev/pts/") {
		t.Fatalf("exec with terminal stdio: exit %d, output %q", st.ExitCode(), eout.String())
	}
}
