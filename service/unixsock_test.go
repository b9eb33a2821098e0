package service

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestUnixListenDial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	f, err := listenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := listenUnix(path); !errors.Is(err, unix.EADDRINUSE) {
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
	c, err := dialUnix(path, time.Second)
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
	if _, err := dialUnix(filepath.Join(t.TempDir(), "none"), time.Second); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dial of a missing socket: %v", err)
	}
}

// TestDialUnixTimeout: a listener that never accepts and whose backlog is
// full makes connect wait; the dial must give up after its timeout.
func TestDialUnixTimeout(t *testing.T) {
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
	var conns []net.Conn
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
		c, err := dialUnix(path, 100*time.Millisecond)
		if err == nil {
			conns = append(conns, c)
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("dial to a full backlog: %v", err)
		}
		if d := time.Since(start); d < 90*time.Millisecond || d > 5*time.Second {
			t.Fatalf("dial gave up after %s, want about 100ms", d)
		}
		break
	}
}
