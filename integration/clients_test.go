package integration

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// Vanished clients: a client killed with SIGKILL while the container
// streams output must leave the container running, its output flowing to
// the next client that attaches, and the shim with no more fds, threads or
// goroutines than before.

// checkCounterTail checks that out, the output of counterArgs as
// successive clients read it, holds consecutive numbers after its first
// line (a client may attach mid-line), and returns the first and last.
func checkCounterTail(t *testing.T, out string) (first, last int) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("too little output to check: %q", out)
	}
	for i, l := range lines[1:] {
		v, err := strconv.Atoi(l)
		if err != nil || (i > 0 && v != last+1) {
			t.Fatalf("counter broken after %d: line %q", last, l)
		}
		if i == 0 {
			first = v
		}
		last = v
	}
	return first, last
}

// streamLog is the counter's output as the clients one after the other
// read it: together, nothing lost or repeated.
type streamLog struct {
	t     *testing.T
	parts []string
}

func (l *streamLog) add(who, out string) {
	l.t.Helper()
	l.parts = append(l.parts, out)
	first, last := checkCounterTail(l.t, strings.Join(l.parts, ""))
	l.t.Logf("%s read %d bytes; %d..%d in order so far over %d clients", who, len(out), first, last, len(l.parts))
}

// reattach attaches to the running container id through the Go client,
// checks that it is RUNNING and that its output goes on, detaches and
// returns what it read.
func reattach(t *testing.T, ctx context.Context, id string, tty bool) string {
	t.Helper()
	c := newClient(t)
	ctr, err := c.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	opts := []cio.Opt{cio.WithStreams(nil, &out, &out)}
	if tty {
		opts = append(opts, cio.WithTerminal)
	}
	task, err := ctr.Task(ctx, cio.NewAttach(opts...))
	if err != nil {
		t.Fatalf("re-attach: %v", err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != containerd.Running {
		t.Fatalf("%s is %s after its client was killed", id, st.Status)
	}
	waitFor(t, "new output after re-attaching", func() bool {
		return strings.Count(out.String(), "\n") >= 30
	})
	// Cancel, not Close: containerd's client removes the FIFOs of an
	// attached task when it closes its IO, and the next client must find
	// them. Wait: what the copy read is all in out.
	task.IO().Cancel()
	task.IO().Wait()
	return clean(out.String())
}

// killedClient is a client process whose output the test collects.
type killedClient struct {
	cmd  *exec.Cmd
	out  func() string
	done <-chan struct{}
}

// startClient starts cmd, on a terminal if tty, collecting its output.
func startClient(t *testing.T, cmd *exec.Cmd, tty bool) *killedClient {
	t.Helper()
	if tty {
		tm := startTermCmd(t, cmd)
		return &killedClient{cmd: cmd, done: tm.done, out: func() string {
			tm.mu.Lock()
			defer tm.mu.Unlock()
			return clean(tm.out.String())
		}}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var buf syncBuffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer r.Close()
		_, _ = io.Copy(&buf, r)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); <-done })
	return &killedClient{cmd: cmd, done: done, out: buf.String}
}

// killMidStream waits until the client has printed lines, kills it with
// SIGKILL and returns all it printed.
func (k *killedClient) killMidStream(t *testing.T, lines int) string {
	t.Helper()
	waitFor(t, "the client to stream", func() bool { return strings.Count(k.out(), "\n") >= lines })
	if err := k.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = k.cmd.Process.Wait()
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the killed client's output never ended")
	}
	// ctr's cgroup v1 notice goes to the same terminal or pipe.
	return filterWarnings(clean(k.out()))
}

// waitHandler is where a Wait request waits for its process.
const waitHandler = "github.com/raind/raind/service.(*service).Wait"

// assertOnlyWaitsGrew checks the shim after clients were killed: no more
// fds, no more than one more OS thread (the Go runtime keeps an idle one
// it started), and no more goroutines, but for one Wait handler for each
// killed client that had called Wait (at most waits). Those stay until the process exits:
// ttrpc has no cancellation, so containerd cannot tell the shim that the
// client behind a Wait went away (the runc shim's Wait does not even look
// at its context).
func assertOnlyWaitsGrew(t *testing.T, what string, before, after shimState, waits int) {
	t.Helper()
	t.Logf("%s: shim before %+v, after %+v; Wait handlers %d before, %d after", what, before.u, after.u, before.stacks[waitHandler], after.stacks[waitHandler])
	if after.u.fds > before.u.fds || after.u.threads > before.u.threads+1 || after.u.children > before.u.children {
		t.Errorf("%s: the shim grew: before %+v, after %+v", what, before.u, after.u)
	}
	for f, n := range after.stacks {
		grew := n - before.stacks[f]
		if f == waitHandler {
			// A client killed before it got to its Wait leaves none.
			if grew > waits {
				t.Errorf("%s: %d more Wait handlers, want at most %d", what, grew, waits)
			}
		} else if grew > 0 {
			t.Errorf("%s: %d more goroutines in %s", what, grew, f)
		}
	}
}

// assertWaitsReleased ends the task and checks that every Wait handler the
// killed clients left has returned.
func assertWaitsReleased(t *testing.T, ctx context.Context, task containerd.Task, shim int, before shimState) {
	t.Helper()
	ch, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-ch
	// The exit path has work of its own in flight for a moment (the
	// TaskExit event's ttrpc client, the console drain), so wait for the
	// shim to be back to its figures before the clients, and name what
	// stayed if it does not get there.
	var after shimState
	released := false
	for deadline := time.Now().Add(15 * time.Second); !released && time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		after = shimNow(t, shim)
		released = after.stacks[waitHandler] == 0 && after.u.fds <= before.u.fds && after.u.goroutines <= before.u.goroutines
	}
	t.Logf("after the exit: shim %+v, Wait handlers %d", after.u, after.stacks[waitHandler])
	if !released {
		t.Errorf("after the exit the shim has %+v and %d Wait handlers, before the clients %+v; goroutines that grew: %v",
			after.u, after.stacks[waitHandler], before.u, stacksGrown(before.stacks, after.stacks))
	}
}

// stacksGrown lists where after has more goroutines than before.
func stacksGrown(before, after map[string]int) map[string]int {
	grown := map[string]int{}
	for f, n := range after {
		if n > before[f] {
			grown[f] = n - before[f]
		}
	}
	return grown
}

// TestClientCtrKilled kills `ctr run`, with and without -t, while the
// container prints, then twice a `ctr task attach`, with a Go client
// attaching in between.
func TestClientCtrKilled(t *testing.T) {
	for _, tty := range []bool{false, true} {
		name := "pipes"
		if tty {
			name = "tty"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, 3*time.Minute)
			id := newID("ctrkill")
			args := []string{"run", "--runtime", runtimeName, "--fifo-dir", t.TempDir()}
			if tty {
				args = append(args, "-t")
			}
			args = append(args, "--rootfs", busyboxRootfs(t), id)
			args = append(args, counterArgs...)
			t.Cleanup(func() {
				c := newClient(t)
				ctx := context.WithoutCancel(ctx)
				if ctr, err := c.LoadContainer(ctx, id); err == nil {
					if task, err := ctr.Task(ctx, nil); err == nil {
						_, _ = task.Delete(ctx, containerd.WithProcessKill)
					}
					_ = ctr.Delete(ctx)
				}
			})
			log := &streamLog{t: t}
			run := startClient(t, ctrCmd(args...), tty)
			waitFor(t, "ctr to stream", func() bool { return strings.Count(run.out(), "\n") >= 10 })
			c := newClient(t)
			ctr, err := c.LoadContainer(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			shim := traceOf(t, ctx, testEnv, ctr).shim
			before := shimNow(t, shim)
			log.add("ctr run", run.killMidStream(t, 20))
			for i := range 3 {
				log.add("Go client", reattach(t, ctx, id, tty))
				if i < 2 {
					log.add("ctr task attach", startClient(t, ctrCmd("task", "attach", id), tty).killMidStream(t, 20))
				}
			}
			// The Wait of ctr run was pending before; those of the two
			// ctr task attach are new.
			assertOnlyWaitsGrew(t, "ctr run killed, then 2 ctr task attach killed, 3 Go attaches", before, shimNow(t, shim), 2)
			task, err := ctr.Task(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			assertWaitsReleased(t, ctx, task, shim, before)
		})
	}
}

// TestClientGoKilled: a Go client process (testdata/attachclient) attached
// to a streaming container is killed with SIGKILL, six times over, with
// and without a terminal.
func TestClientGoKilled(t *testing.T) {
	helper := filepath.Join(t.TempDir(), "attachclient")
	build := exec.Command("go", "build", "-o", helper, "./testdata/attachclient")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the client: %v\n%s", err, out)
	}
	for _, tty := range []bool{false, true} {
		name := "pipes"
		if tty {
			name = "tty"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, 3*time.Minute)
			c := newClient(t)
			id := newID("gokill")
			opts := []oci.SpecOpts{oci.WithProcessArgs(counterArgs...)}
			if tty {
				opts = append(opts, oci.WithTTY)
			}
			var first syncBuffer
			ctr, task := newFIFOTask(t, ctx, c, id, fifoIO(t.TempDir(), "go", nil, &first, tty), opts...)
			t.Cleanup(func() {
				ctx := context.WithoutCancel(ctx)
				_, _ = task.Delete(ctx, containerd.WithProcessKill)
				_ = ctr.Delete(ctx)
			})
			waitFor(t, "the first reader", func() bool { return strings.Count(first.String(), "\n") >= 5 })
			_ = task.IO().Close()
			task.IO().Wait()
			log := &streamLog{t: t}
			log.add("the first reader", clean(first.String()))
			shim := traceOf(t, ctx, testEnv, ctr).shim

			kill := func() string {
				t.Helper()
				args := []string{"-address", testEnv.socket, "-namespace", testNamespace, "-id", id}
				if tty {
					args = append(args, "-tty")
				}
				return startClient(t, exec.Command(helper, args...), false).killMidStream(t, 20)
			}
			log.add("Go client process", kill())
			log.add("Go client", reattach(t, ctx, id, tty))
			before := shimNow(t, shim)
			for range 5 {
				log.add("Go client process", kill())
			}
			log.add("Go client", reattach(t, ctx, id, tty))
			assertOnlyWaitsGrew(t, "5 Go clients killed mid-stream", before, shimNow(t, shim), 5)
			assertWaitsReleased(t, ctx, task, shim, before)
		})
	}
}
