package service

import (
	"errors"
	"net"
	"syscall"
)

// The shim's sockets are unix sockets named by path. net.ListenUnix and
// net.DialUnix take the path as it is; net.Listen and net.Dial would link
// net's resolver (the DNS client, /etc/hosts, nsswitch) into every shim
// for addresses that are never host names.

// listenUnix binds a listening stream socket at path. Closing the listener
// leaves the path: the start action hands the socket to the daemon and
// closes its own copy.
func listenUnix(path string) (*net.UnixListener, error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false)
	return l, nil
}

// dialUnix connects to the stream socket at path.
func dialUnix(path string) (*net.UnixConn, error) {
	return net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
}

// isLive tells whether a connect error still means something listens
// there: a non-blocking unix connect fails with EAGAIN while the
// listener's backlog is full.
func isLive(err error) bool {
	return err == nil || errors.Is(err, syscall.EAGAIN)
}
