package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	apievents "github.com/containerd/containerd/api/events"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// The restart tests stop and start a containerd while raind tasks run.
// They never touch the suite's containerd: each test gets a private one of
// its own (privateDaemon), with its own root, state, socket and shim socket
// directory, that it stops with SIGTERM or SIGKILL and starts again on the
// same directory, as a host's service manager would.

// privateDaemon is a containerd of one test alone.
type privateDaemon struct {
	t *testing.T
	e env
	d *daemon
}

// startPrivate starts a containerd in a new directory; it is stopped, its
// leftover tasks deleted and the directory removed when the test ends. A
// shim still serving it then is a leak, and fails the test.
func startPrivate(t *testing.T) *privateDaemon {
	t.Helper()
	e := testEnv
	e.cgroup2 = false
	dir, err := os.MkdirTemp("/tmp", "raind-rs-")
	if err != nil {
		t.Fatal(err)
	}
	e.dir, e.socket = dir, filepath.Join(dir, "containerd.sock")
	p := &privateDaemon{t: t, e: e}
	if p.d, err = startContainerd(e); err != nil {
		printLogTail(e)
		removeDir(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.d.stop(p.e); err != nil {
			t.Errorf("private containerd: %v", err)
		}
		if t.Failed() {
			printLogTail(p.e)
		}
		removeDir(dir)
	})
	return p
}

// halt stops containerd, by its pid, with sig, and waits until it is gone.
// Its shims stay: they are not its children.
func (p *privateDaemon) halt(sig syscall.Signal) {
	p.t.Helper()
	if err := p.d.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal containerd: %v", err)
	}
	select {
	case <-p.d.done:
	case <-time.After(stopTimeout):
		_ = p.d.cmd.Process.Kill()
		<-p.d.done
		p.t.Fatalf("containerd ignored %v for %s", sig, stopTimeout)
	}
}

// restart starts containerd again on the same root, state and sockets.
func (p *privateDaemon) restart() {
	p.t.Helper()
	d, err := startContainerd(p.e)
	if err != nil {
		printLogTail(p.e)
		p.t.Fatalf("restart containerd: %v", err)
	}
	p.d = d
}

// client is a new client of the daemon as it runs now, in the test
// namespace, closed when the test ends.
func (p *privateDaemon) client() *containerd.Client {
	p.t.Helper()
	c, err := containerd.New(p.e.socket, containerd.WithDefaultNamespace(testNamespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		p.t.Fatalf("containerd client: %v", err)
	}
	p.t.Cleanup(func() { c.Close() })
	return c
}

// bundleOf is where the containerd of e keeps the task's bundle.
func bundleOf(e env, id string) string {
	return filepath.Join(e.dir, "state", "io.containerd.runtime.v2.task", testNamespace, id)
}

// shimSocket is the shim socket containerd recorded for the task.
func shimSocket(t *testing.T, bundle string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bundle, "bootstrap.json"))
	if err != nil {
		t.Fatalf("bootstrap.json: %v", err)
	}
	var params struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(b, &params); err != nil {
		t.Fatalf("bootstrap.json: %v", err)
	}
	return strings.TrimPrefix(params.Address, "unix://")
}

// fifoIO gives a task stdio on FIFOs at fixed paths in dir, which the
// test (or containerd, after a restart) can attach to again; closing the
// returned IO closes the test's ends and leaves the FIFOs.
func fifoIO(dir, name string, stdin io.Reader, stdout io.Writer, tty bool) cio.Creator {
	return func(string) (cio.IO, error) {
		cfg := cio.Config{Stdout: filepath.Join(dir, name+"-out"), Terminal: tty}
		if stdin != nil {
			cfg.Stdin = filepath.Join(dir, name+"-in")
		}
		if !tty {
			cfg.Stderr = filepath.Join(dir, name+"-err")
		}
		opts := []cio.Opt{cio.WithStreams(stdin, stdout, stdout)}
		if tty {
			opts = append(opts, cio.WithTerminal)
		}
		return cio.NewAttach(opts...)(cio.NewFIFOSet(cfg, nil))
	}
}

// newFIFOTask creates and starts a busybox container with args on stdio
// from fifoIO.
func newFIFOTask(t *testing.T, ctx context.Context, c *containerd.Client, id string, creator cio.Creator, opts ...oci.SpecOpts) (containerd.Container, containerd.Task) {
	t.Helper()
	ctr, err := c.NewContainer(ctx, id, containerd.WithNewSpec(append([]oci.SpecOpts{oci.WithRootFSPath(busyboxRootfs(t))}, opts...)...), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.NewTask(ctx, creator)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return ctr, task
}

// hasOpenFile tells whether process pid has path open.
func hasOpenFile(pid int, path string) bool {
	fds := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, _ := os.ReadDir(fds)
	for _, e := range entries {
		if l, _ := os.Readlink(filepath.Join(fds, e.Name())); l == path {
			return true
		}
	}
	return false
}

// counterArgs prints 1, 2, 3... a line every 20 ms, forever.
var counterArgs = []string{"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i; sleep 0.02; done"}

// counterPad makes the restart tests' counter lines about 200 bytes long,
// so that what it writes while nobody reads is tens of KiB.
var counterPad = strings.Repeat("x", 196)

// paddedCounterArgs prints "1 <pad>", "2 <pad>"... a line every 20 ms.
var paddedCounterArgs = []string{"sh", "-c", "i=0; while :; do i=$((i+1)); echo \"$i " + counterPad + "\"; sleep 0.02; done"}

// checkCounter checks that out is the lines of paddedCounterArgs for
// 1..n, nothing lost or repeated, and returns n.
func checkCounter(t *testing.T, out string) int {
	t.Helper()
	s := bufio.NewScanner(strings.NewReader(out))
	n := 0
	for s.Scan() {
		num, pad, _ := strings.Cut(s.Text(), " ")
		v, err := strconv.Atoi(num)
		if err != nil || v != n+1 || pad != counterPad {
			t.Fatalf("counter output broken after %d: line %q (%d bytes in all)", n, s.Text(), len(out))
		}
		n = v
	}
	return n
}

// lastCounter is the number on the last line of out.
func lastCounter(out string) int {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	num, _, _ := strings.Cut(lines[len(lines)-1], " ")
	n, _ := strconv.Atoi(num)
	return n
}

// taskExits records the TaskExit events of the init processes.
type taskExits struct {
	mu   sync.Mutex
	seen map[string][]uint32
}

func subscribeExits(t *testing.T, ctx context.Context, c *containerd.Client) *taskExits {
	t.Helper()
	evctx, stop := context.WithCancel(ctx)
	envCh, errCh := c.Subscribe(evctx, `topic=="/tasks/exit"`)
	r := &taskExits{seen: map[string][]uint32{}}
	done := make(chan struct{})
	t.Cleanup(func() { stop(); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case e := <-envCh:
				if v, err := typeurl.UnmarshalAny(e.Event); err == nil {
					if ex, ok := v.(*apievents.TaskExit); ok && ex.ID == ex.ContainerID {
						r.mu.Lock()
						r.seen[ex.ContainerID] = append(r.seen[ex.ContainerID], ex.ExitStatus)
						r.mu.Unlock()
					}
				}
			case <-errCh:
				return
			case <-evctx.Done():
				return
			}
		}
	}()
	return r
}

// expect waits for the TaskExit of container id and returns the statuses
// of the TaskExit events seen for it.
func (r *taskExits) expect(t *testing.T, id string) []uint32 {
	t.Helper()
	var got []uint32
	waitFor(t, "TaskExit of "+id, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		got = append([]uint32(nil), r.seen[id]...)
		return len(got) > 0
	})
	return got
}

// containerTrace is what a container leaves for the leak checks.
type containerTrace struct {
	id, cgroupsPath, bundle, socket string
	shim                            int
}

func traceOf(t *testing.T, ctx context.Context, e env, ctr containerd.Container) containerTrace {
	t.Helper()
	spec, err := ctr.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tr := containerTrace{id: ctr.ID(), cgroupsPath: spec.Linux.CgroupsPath, bundle: bundleOf(e, ctr.ID())}
	tr.socket = shimSocket(t, tr.bundle)
	// Only the container that started the shim has its pid: the other
	// containers of a pod have that shim's.
	if b, err := os.ReadFile(filepath.Join(tr.bundle, "shim.pid")); err == nil {
		tr.shim, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	return tr
}

// assertGone waits for the shim to exit and checks that it left no
// process, mount, cgroup, socket or bundle.
func assertGone(t *testing.T, tr containerTrace) {
	t.Helper()
	if tr.shim == 0 {
		t.Fatalf("%s: no shim pid", tr.id)
	}
	waitWithin(t, 30*time.Second, fmt.Sprintf("shim %d of %s to exit", tr.shim, tr.id), func() bool {
		return syscall.Kill(tr.shim, 0) != nil
	})
	waitFor(t, "the bundle of "+tr.id+" to go", func() bool {
		_, err := os.Stat(tr.bundle)
		return errors.Is(err, os.ErrNotExist)
	})
	if pids := procsInCgroup(t, tr.cgroupsPath); len(pids) > 0 {
		t.Errorf("%s: processes left in its cgroup: %v", tr.id, pids)
	}
	if dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", tr.cgroupsPath)); len(dirs) > 0 {
		t.Errorf("%s: cgroups left: %v", tr.id, dirs)
	}
	if _, err := os.Lstat(tr.socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: shim socket %s left (%v)", tr.id, tr.socket, err)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, tr.id) {
			t.Errorf("%s: mount left: %s", tr.id, l)
		}
	}
}

func TestRestartContainerd(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(strings.ToUpper(sig.String()[:1])+sig.String()[1:], func(t *testing.T) { testRestart(t, sig) })
	}
}

// testRestart runs a counter, a cat on stdin and a shell on a terminal,
// reads from them, goes away, stops containerd with sig while they go on,
// feeds their stdin FIFOs while it is down, starts it again and checks
// that containerd reconnects to every shim (Wait, Kill, Exec, Pids,
// Metrics, events) and that a re-attached reader gets every byte.
func testRestart(t *testing.T, sig syscall.Signal) {
	p := startPrivate(t)
	ctx := testCtx(t, 3*time.Minute)
	c := p.client()
	dir := t.TempDir()

	var counterA syncBuffer
	counterCtr, counterTask := newFIFOTask(t, ctx, c, newID("rs-count"), fifoIO(dir, "count", nil, &counterA, false), oci.WithProcessArgs(paddedCounterArgs...))
	var catA syncBuffer
	catIn, catInW := io.Pipe()
	catCtr, catTask := newFIFOTask(t, ctx, c, newID("rs-cat"), fifoIO(dir, "cat", catIn, &catA, false), oci.WithProcessArgs("cat"))
	var ttyA syncBuffer
	ttyIn, ttyInW := io.Pipe()
	ttyCtr, ttyTask := newFIFOTask(t, ctx, c, newID("rs-tty"), fifoIO(dir, "tty", ttyIn, &ttyA, true), oci.WithProcessArgs("sh"), oci.WithTTY)
	traces := []containerTrace{traceOf(t, ctx, p.e, counterCtr), traceOf(t, ctx, p.e, catCtr), traceOf(t, ctx, p.e, ttyCtr)}
	shimsBefore := shimPidsFor(p.e.socket)

	_, _ = catInW.Write([]byte("before\n"))
	_, _ = ttyInW.Write([]byte("echo before-$((1+1))\n"))
	waitFor(t, "output before the restart", func() bool {
		return strings.Contains(catA.String(), "before\n") && strings.Contains(clean(ttyA.String()), "before-2") &&
			strings.Count(counterA.String(), "\n") >= 20
	})
	// The first readers go away, as a client would that dies with its
	// containerd; the FIFOs stay.
	for _, task := range []containerd.Task{counterTask, catTask, ttyTask} {
		_ = task.IO().Close()
	}
	catInW.Close()
	ttyInW.Close()
	readBefore := lastCounter(counterA.String())

	p.halt(sig)
	// Input while containerd is down goes through the FIFOs alone.
	for _, in := range []struct{ fifo, text string }{{"cat-in", "during\n"}, {"tty-in", "echo during-$((3+4))\n"}} {
		f, err := os.OpenFile(filepath.Join(dir, in.fifo), os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			t.Fatalf("open %s while containerd is down: %v", in.fifo, err)
		}
		_, err = f.WriteString(in.text)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)
	p.restart()
	if after := shimPidsFor(p.e.socket); fmt.Sprint(after) != fmt.Sprint(shimsBefore) {
		t.Errorf("shims before the restart %v, after %v", shimsBefore, after)
	}

	c = p.client()
	exits := subscribeExits(t, ctx, c)
	attach := func(id string, stdin io.Reader, out io.Writer, tty bool) containerd.Task {
		t.Helper()
		ctr, err := c.LoadContainer(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		opts := []cio.Opt{cio.WithStreams(stdin, out, out)}
		if tty {
			opts = append(opts, cio.WithTerminal)
		}
		task, err := ctr.Task(ctx, cio.NewAttach(opts...))
		if err != nil {
			t.Fatalf("attach to %s after the restart: %v", id, err)
		}
		t.Cleanup(func() { _ = task.IO().Close() })
		return task
	}
	var counterB, catB, ttyB syncBuffer
	// What the counter wrote since the first reader left sits in the
	// FIFO: the next reader gets it at once.
	var unread int
	catIn, catInW = io.Pipe()
	ttyIn, ttyInW = io.Pipe()
	counterTask = attach(counterCtr.ID(), nil, &counterB, false)
	waitFor(t, "the output kept while nobody read", func() bool {
		unread = len(counterB.String())
		return unread > 0
	})
	time.Sleep(50 * time.Millisecond)
	unread = len(counterB.String())
	catTask = attach(catCtr.ID(), catIn, &catB, false)
	ttyTask = attach(ttyCtr.ID(), ttyIn, &ttyB, true)

	// Every byte of the counter: what the first reader got, then what
	// the second did, is 1..n.
	waitFor(t, "counter output after the restart", func() bool {
		return strings.Count(counterB.String(), "\n") > readBefore+50
	})
	all := counterA.String() + counterB.String()
	n := checkCounter(t, all)
	t.Logf("counter: %d lines (%d bytes) in order; %d read before containerd stopped, %d after it came back, the first %d bytes of them at once (kept in the FIFO while nobody read)",
		n, len(all), readBefore, strings.Count(counterB.String(), "\n"), unread)

	_, _ = catInW.Write([]byte("after\n"))
	_, _ = ttyInW.Write([]byte("echo after-$((2+3))\n"))
	waitFor(t, "cat and tty output after the restart", func() bool {
		return strings.Contains(catB.String(), "during\nafter\n") && strings.Contains(clean(ttyB.String()), "during-7") &&
			strings.Contains(clean(ttyB.String()), "after-5")
	})
	if strings.Contains(catB.String(), "before") {
		t.Errorf("cat output read twice: %q", catB.String())
	}

	// Pids and Metrics of the counter.
	pids, err := counterTask.Pids(ctx)
	if err != nil {
		t.Fatalf("Pids after the restart: %v", err)
	}
	found := false
	for _, pi := range pids {
		found = found || pi.Pid == counterTask.Pid()
	}
	if !found {
		t.Errorf("Pids %v lacks the init %d", pids, counterTask.Pid())
	}
	m, err := counterTask.Metrics(ctx)
	if err != nil {
		t.Fatalf("Metrics after the restart: %v", err)
	}
	if v, err := typeurl.UnmarshalAny(m.Data); err != nil {
		t.Errorf("metrics: %v", err)
	} else if mm, ok := v.(*v1.Metrics); !ok || mm.Pids == nil || mm.Pids.Current == 0 {
		t.Errorf("metrics without the counter's pids: %T %+v", v, v)
	}

	// Exec.
	spec, err := counterCtr.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pspec := *spec.Process
	pspec.Args = []string{"echo", "exec-ok"}
	var execOut syncBuffer
	proc, err := counterTask.Exec(ctx, "after-restart", &pspec, cio.NewCreator(cio.WithStreams(nil, &execOut, &execOut), cio.WithFIFODir(dir)))
	if err != nil {
		t.Fatalf("Exec after the restart: %v", err)
	}
	pch, err := proc.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st := <-pch; st.ExitCode() != 0 {
		t.Errorf("exec exit %d", st.ExitCode())
	}
	if _, err := proc.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if execOut.String() != "exec-ok\n" {
		t.Errorf("exec printed %q", execOut.String())
	}

	// Wait and the exit events: cat ends with its stdin, the shell
	// with exit 3, the counter with SIGKILL.
	waits := map[string]<-chan containerd.ExitStatus{}
	for _, task := range []containerd.Task{counterTask, catTask, ttyTask} {
		ch, err := task.Wait(ctx)
		if err != nil {
			t.Fatalf("Wait after the restart: %v", err)
		}
		waits[task.ID()] = ch
	}
	// cat reads its stdin FIFO itself: it ends once every writer has
	// closed, ours first, then the shim's, which CloseIO closes.
	catInW.Close()
	waitFor(t, "the client to close its end of cat's stdin", func() bool {
		return !hasOpenFile(os.Getpid(), filepath.Join(dir, "cat-in"))
	})
	if err := catTask.CloseIO(ctx, containerd.WithStdinCloser); err != nil {
		t.Fatalf("CloseIO after the restart: %v", err)
	}
	_, _ = ttyInW.Write([]byte("exit 3\n"))
	if err := counterTask.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatalf("Kill after the restart: %v", err)
	}
	want := map[string]uint32{catTask.ID(): 0, ttyTask.ID(): 3, counterTask.ID(): 137}
	for id, code := range want {
		select {
		case st := <-waits[id]:
			if st.ExitCode() != code {
				t.Errorf("%s: Wait says %d, want %d", id, st.ExitCode(), code)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: Wait never returned", id)
		}
		if got := exits.expect(t, id); len(got) != 1 || got[0] != code {
			t.Errorf("%s: TaskExit events say %v, want one with %d", id, got, code)
		}
	}
	for _, task := range []containerd.Task{counterTask, catTask, ttyTask} {
		st, err := task.Delete(ctx)
		if err != nil {
			t.Fatalf("Delete after the restart: %v", err)
		}
		if st.ExitCode() != want[task.ID()] {
			t.Errorf("%s: Delete says %d, want %d", task.ID(), st.ExitCode(), want[task.ID()])
		}
	}
	for _, ctr := range []containerd.Container{counterCtr, catCtr, ttyCtr} {
		if err := ctr.Delete(ctx); err != nil {
			t.Error(err)
		}
	}
	for _, tr := range traces {
		assertGone(t, tr)
	}
}

// TestRestartExitWhileDown: a task exits while containerd is down. When
// containerd comes back it may keep the task (then Wait and Delete give
// the exit status) or treat the shim as leaked and delete it; either way
// the shim must leave nothing behind.
func TestRestartExitWhileDown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(strings.ToUpper(sig.String()[:1])+sig.String()[1:], func(t *testing.T) {
			p := startPrivate(t)
			ctx := testCtx(t, 2*time.Minute)
			c := p.client()
			dir := t.TempDir()
			var out syncBuffer
			id := newID("rs-exit")
			ctr, task := newFIFOTask(t, ctx, c, id, fifoIO(dir, "exit", nil, &out, false),
				oci.WithProcessArgs("sh", "-c", "echo started; sleep 2; echo bye; exit 7"))
			tr := traceOf(t, ctx, p.e, ctr)
			waitFor(t, "the task to start", func() bool { return strings.Contains(out.String(), "started") })
			_ = task.IO().Close()
			pid := int(task.Pid())
			p.halt(sig)
			waitWithin(t, 20*time.Second, "the task to exit while containerd is down", func() bool {
				return syscall.Kill(pid, 0) != nil
			})
			p.restart()
			c = p.client()
			ctr, err := c.LoadContainer(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var rest syncBuffer
			task, err = ctr.Task(ctx, cio.NewAttach(cio.WithStreams(nil, &rest, &rest)))
			switch {
			case errdefs.IsNotFound(err):
				// containerd 2.4 found a shim with no processes and
				// no sandbox, and cleaned it up as leaked: the exit
				// status is gone with the task.
				log, _ := os.ReadFile(p.e.log())
				t.Logf("containerd deleted the task on restart (leaked-shim cleanup: %v)", strings.Contains(string(log), "cleaning leaked shim process"))
			case err != nil:
				t.Fatal(err)
			default:
				st, err := task.Status(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if st.Status != containerd.Stopped || st.ExitStatus != 7 {
					t.Errorf("status after the restart %+v, want stopped with 7", st)
				}
				ch, err := task.Wait(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if es := <-ch; es.ExitCode() != 7 {
					t.Errorf("Wait says %d, want 7", es.ExitCode())
				}
				es, err := task.Delete(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if es.ExitCode() != 7 {
					t.Errorf("Delete says %d, want 7", es.ExitCode())
				}
				t.Logf("containerd kept the task; Wait and Delete gave 7; output after the restart %q", rest.String())
			}
			if err := ctr.Delete(ctx); err != nil {
				t.Error(err)
			}
			assertGone(t, tr)
		})
	}
}
