package stdio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/containerd/console"
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

// relay copies between a pty master and the client's FIFOs. Reads from the
// master are driven by one epoll shared by every terminal of the shim
// (containerd/console's Epoller; Go's own poller wakes up far too late on
// a pty master and caps the relay near 1 MB/s). No thread blocks per
// terminal.
type relay struct {
	epoller   *console.Epoller
	master    *console.EpollConsole
	stdin     *os.File // FIFO read end, nil without stdin
	stdout    *os.File // FIFO write end, nil without stdout
	exited    chan struct{}
	exitOnce  sync.Once
	closeOnce sync.Once
	closed    chan struct{}
	// drainOver closes consoleDrainTimeout after the exit.
	drainOver chan struct{}
	outDone   chan struct{}
	inDone    chan struct{}
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
	i.tty = &relay{
		exited:    make(chan struct{}),
		closed:    make(chan struct{}),
		drainOver: make(chan struct{}),
		outDone:   make(chan struct{}),
		inDone:    make(chan struct{}),
	}
	if cfg.Stdin != "" {
		// Read through Go's poller so that Close can interrupt it.
		r, err := os.OpenFile(cfg.Stdin, os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open stdin %s: %w", cfg.Stdin, err)
		}
		growPipeFile(r)
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

// AttachConsole starts relaying the pty master of a terminal process
// through epoller. IO owns master from here on.
func (i *IO) AttachConsole(master *os.File, epoller *console.Epoller) error {
	if i.tty == nil {
		master.Close()
		return fmt.Errorf("stdio was not opened for a terminal: %w", errdefs.ErrFailedPrecondition)
	}
	c, err := console.ConsoleFromFile(master)
	if err != nil {
		master.Close()
		return fmt.Errorf("pty master: %w", err)
	}
	ec, err := epoller.Add(c)
	if err != nil {
		c.Close()
		return fmt.Errorf("watch pty master: %w", err)
	}
	i.tty.epoller, i.tty.master = epoller, ec
	go i.tty.copyOut()
	go i.tty.copyIn()
	return nil
}

// Resize sets the terminal's window size.
func (i *IO) Resize(width, height uint32) error {
	if i.tty == nil || i.tty.master == nil {
		return fmt.Errorf("process has no terminal: %w", errdefs.ErrFailedPrecondition)
	}
	return i.tty.master.Resize(console.WinSize{Width: uint16(width), Height: uint16(height)})
}

// ProcessExited tells the relay that the pty's slave side is gone for good
// once what is left in it has been read.
func (i *IO) ProcessExited() {
	r := i.tty
	if r == nil {
		return
	}
	r.exitOnce.Do(r.shutdown)
}

func (r *relay) shutdown() {
	close(r.exited)
	time.AfterFunc(consoleDrainTimeout, func() { close(r.drainOver) })
	if r.master != nil {
		// The reader stops waiting on epoll and reads until the master
		// reports EIO: no slave left and nothing queued.
		_ = r.master.Shutdown(r.epoller.CloseConsole)
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
		if errors.Is(err, unix.EAGAIN) {
			// After the exit, EAGAIN means the last writes may still be
			// on their way into the master (or a child of the process
			// still holds the slave): keep reading until EIO, or until
			// the drain time is over.
			select {
			case <-r.drainOver:
				return
			case <-time.After(time.Millisecond):
				continue
			}
		}
		if err != nil {
			return
		}
	}
}

// copyIn relays stdin; when the client's stdin ends (CloseIO) it types
// Ctrl-D, which a reader of the terminal sees as end of file.
func (r *relay) copyIn() {
	defer close(r.inDone)
	if r.stdin == nil {
		return
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.stdin.Read(buf)
		if n > 0 && !r.write(buf[:n]) {
			return
		}
		if errors.Is(err, io.EOF) {
			r.write([]byte{eot})
			return
		}
		if err != nil {
			return
		}
	}
}

// write puts p into the master, waiting while the terminal's input queue
// is full. It gives up when the relay closes or the process is gone; the
// Epoller's own Write would wait forever on a pty nobody reads any more.
func (r *relay) write(p []byte) bool {
	fd := int(r.master.Fd())
	for len(p) > 0 {
		n, err := unix.Write(fd, p)
		if n > 0 {
			p = p[n:]
		}
		switch {
		case err == nil:
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, 100)
		default:
			return false
		}
		select {
		case <-r.closed:
			return false
		case <-r.exited:
			return false
		default:
		}
	}
	return true
}

// close drains and releases the relay: output first, bounded by
// consoleDrainTimeout, then stdin, then the master.
func (r *relay) close() {
	close(r.closed)
	if r.master == nil {
		for _, f := range []*os.File{r.stdin, r.stdout} {
			if f != nil {
				f.Close()
			}
		}
		return
	}
	r.exitOnce.Do(r.shutdown)
	<-r.outDone
	if r.stdin != nil {
		r.stdin.Close()
	}
	<-r.outDone
	<-r.inDone
	r.master.Close()
}
