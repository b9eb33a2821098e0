package stdio

import (
	"context"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func pipeSize(t *testing.T, f *os.File) int {
	t.Helper()
	var n int
	var ferr error
	sc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Control(func(fd uintptr) { n, ferr = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) }); err != nil {
		t.Fatal(err)
	}
	if ferr != nil {
		t.Fatalf("F_GETPIPE_SZ: %v", ferr)
	}
	return n
}

// The size belongs to the FIFO, not to an fd, so the client's own open
// end sees what the shim set.
func TestFIFOsAreGrown(t *testing.T) {
	in, out, errp := mkfifo(t, "in"), mkfifo(t, "out"), mkfifo(t, "err")
	i, err := Open(context.Background(), Config{Stdin: in, Stdout: out, Stderr: errp}, Owner{ID: "c"}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	defer i.CloseProcessSide()
	for _, p := range []string{in, out, errp} {
		f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := pipeSize(t, f); got < pipeBufferSize {
			t.Errorf("%s: pipe buffer %d, want at least %d", p, got, pipeBufferSize)
		}
		f.Close()
	}
}

func TestTerminalFIFOsAreGrown(t *testing.T) {
	in, out := mkfifo(t, "in"), mkfifo(t, "out")
	i, err := Open(context.Background(), Config{Stdin: in, Stdout: out, Terminal: true}, Owner{ID: "c"}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	defer i.CloseProcessSide()
	for _, f := range []*os.File{i.tty.stdin, i.tty.stdout} {
		if got := pipeSize(t, f); got < pipeBufferSize {
			t.Errorf("%s: pipe buffer %d, want at least %d", f.Name(), got, pipeBufferSize)
		}
	}
}

func TestLoggerPipesAreGrown(t *testing.T) {
	i, err := Open(context.Background(), Config{Stdout: "binary:///bin/true"}, Owner{ID: "c"}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	_, out, errf := i.Files()
	for _, f := range []*os.File{out, errf} {
		if got := pipeSize(t, f); got < pipeBufferSize {
			t.Errorf("%s: pipe buffer %d, want at least %d", f.Name(), got, pipeBufferSize)
		}
	}
	i.CloseProcessSide()
	_ = i.Close()
}

// A pipe someone already made larger keeps its size, and a non-pipe is
// not an error.
func TestGrowPipeKeepsLargerAndIgnoresFiles(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := unix.FcntlInt(r.Fd(), unix.F_SETPIPE_SZ, 2*pipeBufferSize); err != nil {
		t.Skipf("cannot set a pipe to %d: %v", 2*pipeBufferSize, err)
	}
	growPipeFile(w)
	if got := pipeSize(t, r); got != 2*pipeBufferSize {
		t.Fatalf("pipe shrank to %d", got)
	}
	f, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	growPipeFile(f)
}
