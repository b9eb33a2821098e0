package runtime

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/containerd/console"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// consoleFD is where the child finds its end of the console socket.
const consoleFD = 4

// setupTerminal creates the pty inside the container, from the container's
// own devpts, so that the process sees /dev/pts/N of its instance. See
// pty_linux.go for how its paths are checked (CVE-2025-52565). The
// master goes to the spawning side over the console socket; the slave
// becomes the controlling terminal and fds 0, 1 and 2. For an init,
// /dev/console shows the slave too.
func setupTerminal(proc *specs.Process, isInit bool) error {
	master, slave, err := openPty()
	if err != nil {
		return err
	}
	defer master.Close()
	defer slave.Close()
	if proc.ConsoleSize != nil {
		ws := console.WinSize{Height: uint16(proc.ConsoleSize.Height), Width: uint16(proc.ConsoleSize.Width)}
		if err := master.Resize(ws); err != nil {
			return fmt.Errorf("console size: %w", err)
		}
	}
	if isInit {
		if err := bindConsole(slave); err != nil {
			return err
		}
	}
	if err := sendMaster(master.Fd()); err != nil {
		return err
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if err := unix.IoctlSetInt(int(slave.Fd()), unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return fmt.Errorf("pty slave to fd %d: %w", fd, err)
		}
	}
	return nil
}

func sendMaster(fd uintptr) error {
	rights := unix.UnixRights(int(fd))
	if err := unix.Sendmsg(consoleFD, []byte("m"), rights, nil, 0); err != nil {
		return fmt.Errorf("send pty master: %w", err)
	}
	return unix.Close(consoleFD)
}

// recvMaster receives the pty master the child sends over conn.
func recvMaster(conn *net.UnixConn, deadline time.Time) (*os.File, error) {
	if !deadline.IsZero() {
		_ = conn.SetReadDeadline(deadline)
	}
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receive pty master: %w", err)
	}
	if n == 0 {
		return nil, errors.New("receive pty master: child closed the console socket")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive pty master: bad control message: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receive pty master: %v", err)
	}
	unix.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), "ptmx"), nil
}
