package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
)

// runningContainer starts `sleep 1000` and returns it with its task.
func runningContainer(t *testing.T) (context.Context, containerd.Container, containerd.Task) {
	t.Helper()
	ctx := testCtx(t, 5*time.Minute)
	c := newClient(t)
	ctr, err := c.NewContainer(ctx, newID("exec"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("sleep", "1000"), oci.WithHostname("exechost")), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		ctr.Delete(ctx)
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		task.Delete(ctx, containerd.WithProcessKill)
		ctr.Delete(ctx)
	})
	return ctx, ctr, task
}

// execRun runs args in task and returns its output and exit code.
func execRun(t *testing.T, ctx context.Context, task containerd.Task, stdin io.Reader, args ...string) result {
	t.Helper()
	spec, err := task.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pspec := *spec.Process
	pspec.Args = args
	var out, errb bytes.Buffer
	p, err := task.Exec(ctx, newID("x"), &pspec, cio.NewCreator(cio.WithStreams(stdin, &out, &errb)))
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	defer p.Delete(context.WithoutCancel(ctx))
	ch, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		return result{stderr: err.Error(), code: -1}
	}
	if stdin != nil {
		if err := p.CloseIO(ctx, containerd.WithStdinCloser); err != nil {
			t.Fatal(err)
		}
	}
	code, _, _ := (<-ch).Result()
	if _, err := p.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), int(code)}
}

func TestExecSeesInitNamespaces(t *testing.T) {
	ctx, _, task := runningContainer(t)
	r := execRun(t, ctx, task, nil, "sh", "-c", "for n in ipc mnt net pid uts cgroup; do readlink /proc/self/ns/$n; done; hostname")
	if r.code != 0 {
		t.Fatalf("exec failed: %+v", r)
	}
	var want []string
	for _, n := range []string{"ipc", "mnt", "net", "pid", "uts", "cgroup"} {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", task.Pid(), n))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, l)
	}
	want = append(want, "exechost")
	if got := strings.Fields(r.stdout); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("exec sees %v, init has %v", got, want)
	}
	// Same cgroup as init: inside the shared cgroup namespace the two
	// views must be identical.
	r = execRun(t, ctx, task, nil, "sh", "-c", "cat /proc/1/cgroup; echo ---; cat /proc/self/cgroup")
	parts := strings.Split(r.stdout, "---\n")
	if r.code != 0 || len(parts) != 2 || parts[0] != parts[1] || parts[0] == "" {
		t.Fatalf("cgroups differ: %q", r.stdout)
	}
}

func TestExecExitCodes(t *testing.T) {
	ctx, _, task := runningContainer(t)
	for _, code := range []int{0, 5} {
		if r := execRun(t, ctx, task, nil, "sh", "-c", fmt.Sprintf("exit %d", code)); r.code != code {
			t.Fatalf("exit %d, want %d: %+v", r.code, code, r)
		}
	}
	spec, _ := task.Spec(ctx)
	pspec := *spec.Process
	pspec.Args = []string{"sleep", "100"}
	p, err := task.Exec(ctx, "killme", &pspec, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := p.Wait(ctx)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := (<-ch).Result(); code != 137 {
		t.Fatalf("exit %d, want 137", code)
	}
	p.Delete(ctx)
}

func TestExecErrors(t *testing.T) {
	ctx, _, task := runningContainer(t)
	r := execRun(t, ctx, task, nil, "/no-such-binary")
	if r.code != -1 || !strings.Contains(r.stderr, "no-such-binary") {
		t.Fatalf("missing binary: %+v", r)
	}
	spec, _ := task.Spec(ctx)
	pspec := *spec.Process
	pspec.Args = []string{"true"}
	pspec.Cwd = "/no/such/dir"
	p, err := task.Exec(ctx, "badcwd", &pspec, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err == nil || !strings.Contains(err.Error(), "/no/such/dir") {
		t.Fatalf("bad cwd: %v", err)
	}
	p.Delete(ctx)
	// Duplicate and unknown ids.
	pspec.Cwd = "/"
	if _, err := task.Exec(ctx, "dup", &pspec, cio.NullIO); err != nil {
		t.Fatal(err)
	}
	if _, err := task.Exec(ctx, "dup", &pspec, cio.NullIO); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("duplicate exec: %v", err)
	}
	if _, err := task.LoadProcess(ctx, "nope", nil); !errdefs.IsNotFound(err) {
		t.Fatalf("unknown exec: %v", err)
	}
	// The container survived all of it.
	if r := execRun(t, ctx, task, nil, "true"); r.code != 0 {
		t.Fatalf("container broken after bad execs: %+v", r)
	}
}

func TestExecStdinRoundTrip(t *testing.T) {
	ctx, _, task := runningContainer(t)
	data := make([]byte, 20<<20)
	rand.Read(data)
	r := execRun(t, ctx, task, bytes.NewReader(data), "cat")
	if r.code != 0 || sha256.Sum256([]byte(r.stdout)) != sha256.Sum256(data) {
		t.Fatalf("round trip: code %d, %d bytes back of %d", r.code, len(r.stdout), len(data))
	}
}

func TestConcurrentExecs(t *testing.T) {
	ctx, _, task := runningContainer(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := execRun(t, ctx, task, nil, "echo", fmt.Sprint(i))
			if r.code != 0 || r.stdout != fmt.Sprintf("%d\n", i) {
				errs <- fmt.Errorf("exec %d: %+v", i, r)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestExecViaCtr(t *testing.T) {
	id := newID("cx")
	out, errOut, code := runCtr(t, 30*time.Second, "", "run", "-d", "--runtime", runtimeName, "--rootfs", busyboxRootfs(t), id, "sleep", "1000")
	if code != 0 {
		t.Fatalf("run -d: %s %s", out, errOut)
	}
	defer func() {
		runCtr(t, 30*time.Second, "", "task", "kill", "-s", "SIGKILL", id)
		runCtr(t, 30*time.Second, "", "task", "delete", "-f", id)
		runCtr(t, 30*time.Second, "", "container", "rm", id)
	}()
	waitRunning(t, id)
	out, errOut, code = runCtr(t, 30*time.Second, "", "task", "exec", "--exec-id", "e1", id, "sh", "-c", "echo in-exec; exit 5")
	if code != 5 || out != "in-exec\n" {
		t.Fatalf("exec: code %d out %q err %q", code, out, errOut)
	}
	// A long-running exec shows in ctr task ps with its exec id.
	go runCtr(t, 30*time.Second, "", "task", "exec", "--exec-id", "e2", id, "sleep", "20")
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _, _ = runCtr(t, 10*time.Second, "", "task", "ps", id)
		if strings.Contains(out, "e2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ps never showed exec e2: %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	runCtr(t, 10*time.Second, "", "task", "kill", "--exec-id", "e2", "-s", "SIGKILL", id)
}
