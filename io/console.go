package stdio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// consoleDrainTimeout bounds how long Close waits for output still in the
// pty after the process exited (a daemonized child holding the slave would
// otherwise keep it open forever).
const consoleDrainTimeout = 5 * time.Second

// eot is what the terminal driver turns into end-of-file for a reader in
// canonical mode: the byte a user types as Ctrl-D.
const eot = 0x04

// relay copies between a pty master and the client's FIFOs. The master is
// non-blocking and read through Go's poller, one epoll shared by every
// container of the shim; no thread blocks per terminal.
type relay struct {
	master  *os.File
	stdin   *os.File // FIFO read end, nil without stdin
	stdout  *os.File // FIFO write end, nil without stdout
	exited  chan struct{}
	exitMu  sync.Once
	closeMu sync.Once
	outDone chan struct{}
	inDone  chan struct{}
}

// openTerminalFIFOs opens the FIFO ends the relay needs; the process itself
// gets /dev/null and then the pty slave from its init.
func (i *IO) openTerminalFIFOs(cfg Config) error {
	var err error
	for _, f := range []**os.File{&i.in, &i.out, &i.err} {
		if *f, err = openNull(); err != nil {
			return err
		}
	}
	i.tty = &relay{exited: make(chan struct{}), outDone: make(chan struct{}), inDone: make(chan struct{})}
	if cfg.Stdin != "" {
		// Read through the poller so that Close can interrupt it.
		r, err := os.OpenFile(cfg.Stdin, os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open stdin %s: %w", cfg.Stdin, err)
		}
		i.tty.stdin = r
		w, err := os.OpenFile(cfg.Stdin, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("open stdin %s for writing: %w", cfg.Stdin, err)
		}
		i.stdinW = w
	}
	if cfg.Stdout != "" {
		w, err := i.openOutput(cfg.Stdout)
		if err != nil {
			return fmt.Errorf("stdout: %w", err)
		}
		i.tty.stdout = w
	}
	return nil
}

// AttachConsole starts relaying the pty master of a terminal process. IO
// owns master from here on.
func (i *IO) AttachConsole(master *os.File) error {
	if i.tty == nil {
		master.Close()
		return fmt.Errorf("stdio was not opened for a terminal: %w", errdefs.ErrFailedPrecondition)
	}
	// A fresh os.File of a non-blocking fd is registered with the poller;
	// the dup keeps the original File's finalizer off our fd.
	fd, err := unix.FcntlInt(master.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	master.Close()
	if err != nil {
		return fmt.Errorf("dup pty master: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return fmt.Errorf("pty master non-blocking: %w", err)
	}
	i.tty.master = os.NewFile(uintptr(fd), "ptmx")
	go i.tty.copyOut()
	go i.tty.copyIn()
	return nil
}

// Resize sets the terminal's window size.
func (i *IO) Resize(width, height uint32) error {
	if i.tty == nil || i.tty.master == nil {
		return fmt.Errorf("process has no terminal: %w", errdefs.ErrFailedPrecondition)
	}
	ws := &unix.Winsize{Row: uint16(height), Col: uint16(width)}
	rc, err := i.tty.master.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) { ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) }); err != nil {
		return err
	}
	return ierr
}

// ProcessExited tells the relay that an EIO from the master is final: the
// slave side is gone for good once the process has.
func (i *IO) ProcessExited() {
	if i.tty != nil {
		i.tty.exitMu.Do(func() { close(i.tty.exited) })
	}
}

// copyOut ends at the process's exit, once the pty is drained; closing the
// FIFO then is what gives the client EOF, and ctr waits for that EOF
// before it deletes an exec.
func (r *relay) copyOut() {
	defer close(r.outDone)
	if r.stdout != nil {
		defer r.stdout.Close()
	}
	out := io.Writer(io.Discard)
	if r.stdout != nil {
		out = r.stdout
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.master.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err == nil {
			continue
		}
		if errors.Is(err, unix.EIO) {
			// No slave open: either the process is gone (and all its
			// output has been read, the kernel returns EIO only then) or
			// it has not opened one yet.
			select {
			case <-r.exited:
				return
			case <-time.After(10 * time.Millisecond):
				continue
			}
		}
		return
	}
}

// copyIn relays stdin; when the client's stdin ends (CloseIO) it types
// Ctrl-D, which a reader of the terminal sees as end of file.
func (r *relay) copyIn() {
	defer close(r.inDone)
	if r.stdin == nil {
		return
	}
	_, err := io.Copy(r.master, r.stdin)
	if err == nil {
		_, _ = r.master.Write([]byte{eot})
	}
}

// close drains and releases the relay: output first, bounded by
// consoleDrainTimeout, then stdin, then the master.
func (r *relay) close() {
	if r.master == nil {
		for _, f := range []*os.File{r.stdin, r.stdout} {
			if f != nil {
				f.Close()
			}
		}
		return
	}
	select {
	case <-r.outDone:
	case <-time.After(consoleDrainTimeout):
	}
	if r.stdin != nil {
		r.stdin.Close()
	}
	r.master.Close()
	<-r.outDone
	<-r.inDone
}
