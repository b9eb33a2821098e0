package runtime

import (
	"encoding/json"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFdReaderKeepsFdsAcrossReadAhead: the decoder reads ahead, over the
// message that carries the listener; the fd is kept all the same, and an
// fd nobody takes is closed.
func TestFdReaderKeepsFdsAcrossReadAhead(t *testing.T) {
	ours, theirs, err := socketPair("test")
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	tc, err := net.FileConn(theirs)
	theirs.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()

	agent := &seccompAgent{listenerPath: "/unused"}
	r, fds := syncReader(ours, agent)
	if fds == nil {
		t.Fatal("no fd reader for a process with an agent")
	}
	if plain, none := syncReader(ours, nil); none != nil || plain != ours {
		t.Fatal("a process without an agent reads the socket itself")
	}
	// Two messages in one write each, the first with the pipe's write end,
	// both sent before anything is read.
	first, _ := json.Marshal(message{Type: msgSeccomp})
	if _, _, err := tc.(*net.UnixConn).WriteMsgUnix(append(first, '\n'), unix.UnixRights(int(pw.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	if err := json.NewEncoder(tc).Encode(message{Type: msgError, Error: "x"}); err != nil {
		t.Fatal(err)
	}
	dec := newDecoder(r)
	var m message
	if err := dec.Decode(&m); err != nil || m.Type != msgSeccomp {
		t.Fatalf("first message %+v, %v", m, err)
	}
	if err := dec.Decode(&m); err != nil || m.Type != msgError {
		t.Fatalf("second message %+v, %v", m, err)
	}
	got, err := fds.take()
	if err != nil {
		t.Fatal(err)
	}
	// It is the pipe: what goes in comes out of pr.
	if _, err := got.Write([]byte("k")); err != nil {
		t.Fatal(err)
	}
	got.Close()
	b := make([]byte, 1)
	if _, err := pr.Read(b); err != nil || b[0] != 'k' {
		t.Fatalf("read %q, %v", b, err)
	}
	if _, err := fds.take(); err == nil {
		t.Fatal("took a second fd that was never sent")
	}

	// An fd left in the reader is closed by close.
	if _, _, err := tc.(*net.UnixConn).WriteMsgUnix([]byte("{}\n"), unix.UnixRights(int(pw.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if len(fds.fds) != 1 {
		t.Fatalf("%d fds held", len(fds.fds))
	}
	left := fds.fds[0]
	fds.close()
	if _, err := unix.FcntlInt(uintptr(left), unix.F_GETFD, 0); err != unix.EBADF {
		t.Fatalf("fd %d still open after close: %v", left, err)
	}
}
