package stdio

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"
)

// waitMonitor reaps with exec.Cmd.Wait: fine in a test binary, where no
// reaper loop competes for the status.
type waitMonitor struct{}

func (waitMonitor) Start(c *exec.Cmd) (chan runc.Exit, error) {
	if err := c.Start(); err != nil {
		return nil, err
	}
	ch := make(chan runc.Exit, 1)
	go func() {
		_ = c.Wait()
		ch <- runc.Exit{Pid: c.Process.Pid, Status: c.ProcessState.ExitCode()}
	}()
	return ch, nil
}

func (waitMonitor) Wait(c *exec.Cmd, ch chan runc.Exit) (int, error) {
	e := <-ch
	return e.Status, nil
}

func mkfifo(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := mkfifoAt(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func mkfifoAt(p string) error { return unix.Mkfifo(p, 0o600) }

// readable reports whether a read on fd would return now (data or EOF).
func readable(t *testing.T, f *os.File, wait time.Duration) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(wait/time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestStdoutFIFOSurvivesReaderLeaving(t *testing.T) {
	path := mkfifo(t, "stdout")
	i, err := Open(context.Background(), Config{Stdout: path}, Owner{ID: "c"}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	_, out, _ := i.Files()
	// A client reads, then goes away.
	client, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	client.Close()
	// Without the shim's read end this write would raise SIGPIPE/EPIPE.
	if _, err := out.Write([]byte("kept for the next reader\n")); err != nil {
		t.Fatalf("write with no client: %v", err)
	}
	client, err = os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	i.CloseProcessSide()
	b := make([]byte, 100)
	n, err := client.Read(b)
	if err != nil || string(b[:n]) != "kept for the next reader\n" {
		t.Fatalf("read %q %v", b[:n], err)
	}
	// The process side is closed and the shim holds no write end: EOF.
	if n, err := client.Read(b); n != 0 || err == nil {
		t.Fatalf("want EOF, got %d %v", n, err)
	}
}

func TestStdinEOFOnlyOnCloseStdin(t *testing.T) {
	path := mkfifo(t, "stdin")
	i, err := Open(context.Background(), Config{Stdin: path}, Owner{ID: "c"}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	in, _, _ := i.Files()
	client, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	client.Close() // the client leaves without CloseIO
	b := make([]byte, 10)
	n, err := in.Read(b)
	if err != nil || string(b[:n]) != "hi\n" {
		t.Fatalf("read %q %v", b[:n], err)
	}
	if readable(t, in, 100*time.Millisecond) {
		t.Fatal("stdin reached EOF although CloseIO was not called")
	}
	if err := i.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	if !readable(t, in, time.Second) {
		t.Fatal("no EOF after CloseStdin")
	}
	if n, err := in.Read(b); n != 0 || err == nil {
		t.Fatalf("want EOF, got %d %v", n, err)
	}
}

func TestNullIO(t *testing.T) {
	i, err := Open(context.Background(), Config{}, Owner{ID: "c"}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	in, out, errf := i.Files()
	for _, f := range []*os.File{in, out, errf} {
		if f == nil || f.Name() != os.DevNull {
			t.Fatalf("want /dev/null, got %v", f)
		}
	}
	i.CloseProcessSide()
}

func TestFileLogAppends(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sub", "ctr.log")
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	i, err := Open(context.Background(), Config{Stdout: "file://" + log, Stderr: "file://" + log}, Owner{ID: "c"}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	_, out, errf := i.Files()
	out.WriteString("out\n")
	errf.WriteString("err\n")
	i.CloseProcessSide()
	i.Close()
	b, _ := os.ReadFile(log)
	if string(b) != "old\nout\nerr\n" {
		t.Fatalf("log %q", b)
	}
}

func TestBinaryLogger(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "logger")
	body := `#!/bin/sh
echo "$CONTAINER_ID $CONTAINER_NAMESPACE $*" > "` + dir + `/env"
cat <&3 5>&- > "` + dir + `/out" &
cat <&4 5>&- > "` + dir + `/err" &
exec 5>&-
wait
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	i, err := Open(context.Background(), Config{Stdout: "binary://" + script + "?b=2&a=1", Stderr: "binary://" + script}, Owner{ID: "ctr1", Namespace: "ns1"}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	_, out, errf := i.Files()
	out.WriteString("to stdout\n")
	errf.WriteString("to stderr\n")
	i.CloseProcessSide()
	if err := i.Close(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"out": "to stdout\n", "err": "to stderr\n", "env": "ctr1 ns1 a 1 b 2\n"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if string(b) != want {
			t.Errorf("%s: %q, want %q", name, b, want)
		}
	}
}

func TestBadTargets(t *testing.T) {
	for _, cfg := range []Config{
		{Stdout: "http://x/y"},
		{Stdout: "file://relative"},
		{Stdout: "binary://"},
		{Stdin: "/nonexistent/fifo"},
		{Stdout: "/nonexistent/fifo"},
	} {
		_, err := Open(context.Background(), cfg, Owner{ID: "c"}, waitMonitor{})
		if err == nil {
			t.Errorf("%+v: want error", cfg)
		}
	}
	_, err := Open(context.Background(), Config{Stdout: "gopher://x"}, Owner{}, waitMonitor{})
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "gopher") {
		t.Errorf("err %v", err)
	}
	// A terminal process's own fds are /dev/null until its init puts the
	// pty slave there; a console can only be attached to terminal stdio.
	i, err := Open(context.Background(), Config{Terminal: true}, Owner{}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	if _, out, _ := i.Files(); out == nil || out.Name() != os.DevNull {
		t.Errorf("terminal process stdout %v", out)
	}
	j, err := Open(context.Background(), Config{}, Owner{}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	f, _ := os.Open(os.DevNull)
	if err := j.AttachConsole(f, nil); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("console on non-terminal stdio: %v", err)
	}
}

// TestIOOwner: the runc options' io_uid/io_gid own the FIFOs the process
// gets, so that a process running as that user can reopen them; a file://
// log keeps its owner.
func TestIOOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	stdin, stdout, stderr := mkfifo(t, "stdin"), mkfifo(t, "stdout"), mkfifo(t, "stderr")
	i, err := Open(context.Background(), Config{Stdin: stdin, Stdout: stdout, Stderr: stderr, UID: 1000, GID: 1001}, Owner{ID: "c"}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	i.CloseProcessSide()
	for _, p := range []string{stdin, stdout, stderr} {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != 1000 || st.Gid != 1001 {
			t.Errorf("%s owned by %d:%d, want 1000:1001", p, st.Uid, st.Gid)
		}
	}
	log := filepath.Join(t.TempDir(), "log")
	f, err := Open(context.Background(), Config{Stdout: "file://" + log, UID: 1000, GID: 1001}, Owner{ID: "c"}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.CloseProcessSide()
	var st unix.Stat_t
	if err := unix.Stat(log, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 {
		t.Errorf("file log chowned to %d", st.Uid)
	}
}
