package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/creack/pty"
)

// term is a ctr process on a pseudo-terminal owned by the test, as a user
// at a terminal would run it.
type term struct {
	t    *testing.T
	pty  *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	mark int
	done chan struct{}
}

func startTerm(t *testing.T, args ...string) *term {
	t.Helper()
	return startTermCmd(t, ctrCmd(args...))
}

// startTermCmd runs cmd (ctr, crictl) on a new 24x80 pseudo-terminal.
func startTermCmd(t *testing.T, cmd *exec.Cmd) *term {
	t.Helper()
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	tm := &term{t: t, pty: f, cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(tm.done)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		f.Close()
		<-tm.done
	})
	return tm
}

// clean drops what a terminal adds: carriage returns and NULs.
func clean(s string) string {
	return strings.NewReplacer("\r", "", "\x00", "", "^@", "").Replace(s)
}

func (tm *term) send(s string) {
	if _, err := tm.pty.Write([]byte(s)); err != nil {
		tm.t.Fatalf("type %q: %v", s, err)
	}
}

// expect waits until the output since the last expect contains want.
func (tm *term) expect(want string) {
	tm.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tm.mu.Lock()
		s := clean(tm.out.String()[tm.mark:])
		if i := strings.Index(s, want); i >= 0 {
			// Advance past the match in the raw buffer.
			raw := tm.out.String()[tm.mark:]
			tm.mark += rawIndexAfter(raw, want)
			tm.mu.Unlock()
			return
		}
		tm.mu.Unlock()
		if time.Now().After(deadline) {
			tm.t.Fatalf("never saw %q; output:\n%s", want, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawIndexAfter maps the end of want in the cleaned text back to raw.
func rawIndexAfter(raw, want string) int {
	for i := range raw {
		if strings.Contains(clean(raw[:i+1]), want) {
			return i + 1
		}
	}
	return len(raw)
}

func (tm *term) wait() int {
	tm.t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- tm.cmd.Wait() }()
	select {
	case err := <-errc:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			tm.t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		_ = tm.cmd.Process.Signal(syscall.SIGKILL)
		tm.t.Fatal("ctr did not exit")
	}
	return -1
}

func ctrTTYRun(t *testing.T, id string) *term {
	return startTerm(t, "run", "-t", "--rm", "--runtime", runtimeName, "--rootfs", busyboxRootfs(t), id, "/bin/sh")
}

func TestTTYShell(t *testing.T) {
	tm := ctrTTYRun(t, newID("tty"))
	tm.send("echo $((6*7))x\n")
	tm.expect("42x")
	tm.send("tty\n")
	tm.expect("/dev/pts/0")
	tm.send("stty size\n")
	tm.expect("24 80")
	// Resizing the outer terminal reaches the shell.
	if err := pty.Setsize(tm.pty, &pty.Winsize{Rows: 40, Cols: 132}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	tm.send("stty size\n")
	tm.expect("40 132")
	// Ctrl-C reaches the foreground job, not the shell.
	// Ctrl-C reaches the foreground job: sleep ends at once (or the echo
	// would wait 100 s) and the shell is still there to run it.
	tm.send("sleep 100\n")
	time.Sleep(300 * time.Millisecond)
	tm.send("\x03")
	tm.expect("^C")
	tm.send("echo still-$((1+1))\n")
	tm.expect("still-2")
	tm.send("exit 3\n")
	if code := tm.wait(); code != 3 {
		t.Fatalf("ctr exit %d, want 3", code)
	}
}

func TestTTYCtrlD(t *testing.T) {
	tm := ctrTTYRun(t, newID("ttyd"))
	tm.send("echo ready-$((2+3))\n")
	tm.expect("ready-5")
	tm.send("\x04")
	if code := tm.wait(); code != 0 {
		t.Fatalf("ctr exit %d after Ctrl-D", code)
	}
}

// clientTTY runs args on a terminal through the Go client.
func clientTTY(t *testing.T, ctx context.Context, stdin io.Reader, out io.Writer, args ...string) (containerd.Container, containerd.Task) {
	t.Helper()
	c := newClient(t)
	ctr, err := c.NewContainer(ctx, newID("ctty"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs(args...), oci.WithTTY), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(stdin, out, nil), cio.WithTerminal))
	if err != nil {
		ctr.Delete(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		task.Delete(ctx, containerd.WithProcessKill)
		ctr.Delete(ctx)
	})
	return ctr, task
}

// syncBuffer is a bytes.Buffer safe for the copy goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 20*time.Second, what, cond)
}

// waitWithin polls cond until it holds, and fails the test after timeout.
func waitWithin(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTTYClient(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	pr, pw := io.Pipe()
	var out syncBuffer
	_, task := clientTTY(t, ctx, pr, &out, "/bin/sh")
	ch, _ := task.Wait(ctx)
	// Resize before start is applied to the pty.
	if err := task.Resize(ctx, 100, 30); err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(pw, "stty size; tty\n")
	waitFor(t, "stty size 30 100", func() bool { return strings.Contains(clean(out.String()), "30 100\n/dev/pts/0") })
	if err := task.Resize(ctx, 90, 20); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(pw, "stty size\n")
	waitFor(t, "stty size 20 90", func() bool { return strings.Contains(clean(out.String()), "20 90") })
	// CloseIO ends the shell like Ctrl-D.
	pw.Close()
	if err := task.CloseIO(ctx, containerd.WithStdinCloser); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-ch:
		if st.ExitCode() != 0 {
			t.Fatalf("exit %d", st.ExitCode())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("shell did not end after CloseIO; output %q", out.String())
	}
}

func TestTTYCloseIOEndsCat(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	pr, pw := io.Pipe()
	var out syncBuffer
	_, task := clientTTY(t, ctx, pr, &out, "cat")
	ch, _ := task.Wait(ctx)
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(pw, "meow\n")
	waitFor(t, "echo of meow", func() bool { return strings.Count(clean(out.String()), "meow") >= 2 })
	pw.Close()
	if err := task.CloseIO(ctx, containerd.WithStdinCloser); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatal("cat did not end after CloseIO")
	}
}

// TestTTYOutputComplete prints a million lines on a terminal and exits at
// once, twenty times: every line must arrive every time.
func TestTTYOutputComplete(t *testing.T) {
	for i := 0; i < 20; i++ {
		ctx := testCtx(t, 2*time.Minute)
		var out syncBuffer
		ctr, task := clientTTY(t, ctx, nil, &out, "seq", "1", "1000000")
		ch, _ := task.Wait(ctx)
		if err := task.Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-ch
		if _, err := task.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		ctr.Delete(ctx)
		lines := strings.Split(strings.TrimRight(clean(out.String()), "\n"), "\n")
		if len(lines) != 1000000 || lines[0] != "1" || lines[len(lines)-1] != "1000000" {
			last := ""
			if len(lines) > 0 {
				last = lines[len(lines)-1]
			}
			t.Fatalf("run %d: %d lines, last %q", i, len(lines), last)
		}
	}
}

func TestTTYAttach(t *testing.T) {
	id := newID("att")
	// ctr insists on a terminal for -t, even detached.
	if code := startTerm(t, "run", "-d", "-t", "--runtime", runtimeName, "--rootfs", busyboxRootfs(t), id, "/bin/sh").wait(); code != 0 {
		t.Fatalf("run -d -t: exit %d", code)
	}
	t.Cleanup(func() {
		runCtr(t, 20*time.Second, "", "task", "kill", "-s", "SIGKILL", id)
		runCtr(t, 20*time.Second, "", "task", "delete", "-f", id)
		runCtr(t, 20*time.Second, "", "container", "rm", id)
	})
	waitRunning(t, id)
	a := startTerm(t, "task", "attach", id)
	a.send("echo first-$((10+1))\n")
	a.expect("first-11")
	// The attached client dies; the container must not notice.
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	_ = a.cmd.Wait()
	time.Sleep(300 * time.Millisecond)
	out, _, _ := runCtr(t, 10*time.Second, "", "task", "ls")
	if !strings.Contains(out, id) || !strings.Contains(out, "RUNNING") {
		t.Fatalf("container stopped after its client was killed: %s", out)
	}
	b := startTerm(t, "task", "attach", id)
	b.send("echo second-$((20+2))\n")
	b.expect("second-22")
}

func setSize(tm *term, rows, cols uint16) error {
	return pty.Setsize(tm.pty, &pty.Winsize{Rows: rows, Cols: cols})
}
