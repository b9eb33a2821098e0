package service

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestUnixListenDial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	l, err := listenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := listenUnix(path); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second listen: %v, want EADDRINUSE", err)
	}
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(c, c)
		c.Close()
	}()
	c, err := dialUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q %v", buf, err)
	}
	if _, err := dialUnix(filepath.Join(t.TempDir(), "none")); !errors.Is(err, os.ErrNotExist) || isLive(err) {
		t.Fatalf("dial of a missing socket: %v", err)
	}
	l.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("closing the listener unlinked its socket: %v", err)
	}
}

// TestDialFullBacklog: a listener that never accepts and whose backlog is
// full fails a dial at once rather than hanging it, and the failure still
// says that something listens there.
func TestDialFullBacklog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	var conns []io.Closer
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; ; i++ {
		if i > 16 {
			t.Fatal("backlog never filled")
		}
		start := time.Now()
		c, err := dialUnix(path)
		if err == nil {
			conns = append(conns, c)
			continue
		}
		if !isLive(err) {
			t.Fatalf("dial to a full backlog: %v, want EAGAIN", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("dial to a full backlog took %s", d)
		}
		break
	}
}

// The daemon removes the socket it was handed as fd 3 when it exits, found
// from the listener alone, and leaves a socket that a later shim bound at
// the same path.
func TestBoundSocketRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	l, err := listenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	inherited, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer inherited.Close()
	sock := socketOf(inherited)
	if sock.path != path {
		t.Fatalf("socket path %q, want %q", sock.path, path)
	}
	sock.remove()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket still there after remove: %v", err)
	}

	// A new shim's socket at the same path stays.
	l2, err := listenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	sock.remove()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("another shim's socket removed: %v", err)
	}
}

// The delete action removes the socket of a shim that is gone, named in
// the bundle, and keeps one that is still served.
func TestRemoveDeadSocket(t *testing.T) {
	bundle := t.TempDir()
	path := filepath.Join(t.TempDir(), "sock")
	if err := os.WriteFile(filepath.Join(bundle, "address"), []byte("unix://"+path), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := listenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	removeDeadSocket(context.Background(), bundle)
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("a live shim's socket removed: %v", err)
	}
	l.Close() // the path stays, as after SIGKILL
	if _, err := os.Lstat(path); err != nil {
		t.Fatal(err)
	}
	removeDeadSocket(context.Background(), bundle)
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dead shim's socket still there: %v", err)
	}
	removeDeadSocket(context.Background(), t.TempDir()) // no address: nothing to do
}
