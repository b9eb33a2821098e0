package service

import (
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The shim's sockets are made with socket(2) and handed to package net
// through FileListener and FileConn. net.Listen and net.Dial take every
// address through net's generic resolver, and linking it (the DNS client,
// /etc/hosts, nsswitch and netip parsing) adds about 0.3 MiB of code to
// the binary, which every shim process maps, for addresses that are only
// ever file paths.

// listenUnix binds a listening stream socket at path.
func listenUnix(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "bind", Path: path, Err: err}
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		unix.Close(fd)
		_ = os.Remove(path)
		return nil, &os.PathError{Op: "listen", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// dialUnix connects to the stream socket at path. A unix connect waits
// only while the listener's backlog is full, and SO_SNDTIMEO bounds that
// wait.
func dialUnix(path string, timeout time.Duration) (net.Conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return nil, os.NewSyscallError("setsockopt", err)
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		if err == unix.EAGAIN || err == unix.EINPROGRESS {
			err = fmt.Errorf("%w after %s", os.ErrDeadlineExceeded, timeout)
		}
		return nil, &os.PathError{Op: "connect", Path: path, Err: err}
	}
	// The timeout was for connect only; writes must not time out.
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{}); err != nil {
		return nil, os.NewSyscallError("setsockopt", err)
	}
	return net.FileConn(f)
}
