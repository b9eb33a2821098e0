package integration

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// slowReader gives the process FIFOs whose stdout it starts reading only
// after delay, and records when it has the whole of want.
type slowReader struct {
	dio  *cio.DirectIO
	got  atomic.Bool
	out  chan string
	want string
}

func newSlowReader(t *testing.T, ctx context.Context, id, want string, delay time.Duration) *slowReader {
	t.Helper()
	fifos, err := cio.NewFIFOSetInDir("", id, false)
	if err != nil {
		t.Fatal(err)
	}
	fifos.Stdin = ""
	dio, err := cio.NewDirectIO(ctx, fifos)
	if err != nil {
		t.Fatal(err)
	}
	r := &slowReader{dio: dio, out: make(chan string, 1), want: want}
	go func() {
		time.Sleep(delay)
		b := make([]byte, len(want))
		n, _ := io.ReadFull(dio.Stdout, b)
		r.got.Store(string(b[:n]) == want)
		rest, _ := io.ReadAll(dio.Stdout)
		r.out <- string(b[:n]) + string(rest)
	}()
	go func() { _, _ = io.Copy(io.Discard, dio.Stderr) }()
	return r
}

func (r *slowReader) creator(string) (cio.IO, error) { return r.dio, nil }

// containerd's client closes its FIFO ends as soon as it has deleted a
// process, so an exit reported while the output still sits unread in the
// FIFO loses it. The exit must wait for the client to read.
func TestExitWaitsForClientToReadExec(t *testing.T) {
	ctx, _, task := runningContainer(t)
	spec, err := task.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pspec := *spec.Process
	pspec.Args = []string{"echo", "read me before the exit"}
	r := newSlowReader(t, ctx, newID("drain"), "read me before the exit\n", 500*time.Millisecond)
	p, err := task.Exec(ctx, newID("x"), &pspec, r.creator)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st := <-ch
	if !r.got.Load() {
		t.Fatalf("exit reported %v after start, before the client had read the output", time.Since(start))
	}
	if code, _, _ := st.Result(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if _, err := p.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if out := <-r.out; out != r.want {
		t.Fatalf("output %q", out)
	}
}

func TestExitWaitsForClientToReadInit(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	c := newClient(t)
	id := newID("drain")
	ctr, err := c.NewContainer(ctx, id, containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("echo", "init output")), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx))
	r := newSlowReader(t, ctx, id, "init output\n", 500*time.Millisecond)
	task, err := ctr.NewTask(ctx, r.creator)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-ch
	if !r.got.Load() {
		t.Fatal("exit reported before the client had read the output")
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if out := <-r.out; out != r.want {
		t.Fatalf("output %q", out)
	}
}
