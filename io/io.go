package stdio

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"
)

// Monitor starts and reaps the logger of a binary:// URI.
type Monitor interface {
	Start(*exec.Cmd) (chan runc.Exit, error)
	Wait(*exec.Cmd, chan runc.Exit) (int, error)
}

// Config is the stdio of one process as containerd sends it.
type Config struct {
	Stdin, Stdout, Stderr string
	Terminal              bool
	// UID and GID own the FIFOs and pipes the process gets (the runc
	// options' io_uid and io_gid), so that a process running as another
	// user can reopen them through /proc/self/fd. Zero leaves them as
	// they are.
	UID, GID uint32
}

// Owner names the process for binary loggers.
type Owner struct {
	ID, Namespace string
}

// loggerReadyTimeout bounds how long a binary logger may take to signal
// readiness on fd 5 before the process start fails.
const loggerReadyTimeout = 10 * time.Second

// loggerExitTimeout bounds how long Close waits for a logger to drain.
const loggerExitTimeout = 5 * time.Second

// IO is the stdio of one process.
type IO struct {
	in, out, err *os.File // handed to the process

	mu      sync.Mutex
	stdinW  *os.File   // keeps stdin open until CloseStdin
	holds   []*os.File // read ends that keep stdout/stderr FIFOs alive
	logger  *exec.Cmd
	loggerC chan runc.Exit
	monitor Monitor
	tty     *relay
}

// Open prepares the files for cfg. On error everything it opened is closed.
func Open(ctx context.Context, cfg Config, owner Owner, monitor Monitor) (_ *IO, retErr error) {
	i := &IO{monitor: monitor}
	defer func() {
		if retErr != nil {
			i.CloseProcessSide()
			i.Close()
		}
	}()
	if cfg.Terminal {
		if err := i.openTerminalFIFOs(cfg); err != nil {
			return nil, err
		}
		return i, nil
	}
	if err := i.openFiles(ctx, cfg, owner); err != nil {
		return nil, err
	}
	if cfg.UID != 0 || cfg.GID != 0 {
		if err := i.chownPipes(cfg.UID, cfg.GID); err != nil {
			return nil, err
		}
	}
	return i, nil
}

// openFiles opens the process's stdin, stdout and stderr.
func (i *IO) openFiles(ctx context.Context, cfg Config, owner Owner) error {
	var err error
	if i.in, i.stdinW, err = openStdin(cfg.Stdin); err != nil {
		return err
	}
	out, err := parseTarget(cfg.Stdout)
	if err != nil {
		return fmt.Errorf("stdout: %w", err)
	}
	switch out.Scheme {
	case "binary":
		return i.startLogger(ctx, out, owner)
	case "file":
		f, err := openLogFile(out.Path)
		if err != nil {
			return err
		}
		i.out = f
		if i.err, err = dupFile(f); err != nil {
			return err
		}
		return nil
	}
	if i.out, err = i.openOutput(cfg.Stdout); err != nil {
		return fmt.Errorf("stdout: %w", err)
	}
	if i.err, err = i.openOutput(cfg.Stderr); err != nil {
		return fmt.Errorf("stderr: %w", err)
	}
	return nil
}

// chownPipes gives the FIFOs and pipes among the process's files to
// uid:gid. /dev/null and file:// logs are not the process's to own.
func (i *IO) chownPipes(uid, gid uint32) error {
	for _, f := range []*os.File{i.in, i.out, i.err} {
		if f == nil {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return fmt.Errorf("stat %s: %w", f.Name(), err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFIFO {
			continue
		}
		if err := unix.Fchown(int(f.Fd()), int(uid), int(gid)); err != nil {
			return fmt.Errorf("chown %s to %d:%d: %w", f.Name(), uid, gid, err)
		}
	}
	return nil
}

// Files returns the process's stdin, stdout and stderr.
func (i *IO) Files() (in, out, err *os.File) { return i.in, i.out, i.err }

// CloseProcessSide closes the shim's copies of the files the process got;
// call it once the process has started (or failed to).
func (i *IO) CloseProcessSide() {
	for _, f := range []**os.File{&i.in, &i.out, &i.err} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
}

// CloseStdin delivers EOF to the process once every other writer is gone.
func (i *IO) CloseStdin() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.stdinW != nil {
		err := i.stdinW.Close()
		i.stdinW = nil
		return err
	}
	return nil
}

// Close releases the FIFO ends the shim holds and waits for a binary logger
// to finish. Call it after the process has exited.
func (i *IO) Close() error {
	i.CloseStdin()
	i.ProcessExited()
	if i.tty != nil {
		i.tty.closeOnce.Do(i.tty.close)
	}
	i.mu.Lock()
	holds := i.holds
	i.holds = nil
	logger, ec := i.logger, i.loggerC
	i.logger = nil
	i.mu.Unlock()
	for _, h := range holds {
		h.Close()
	}
	if logger == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = i.monitor.Wait(logger, ec)
		_ = logger.Process.Release()
	}()
	select {
	case <-done:
		return nil
	case <-time.After(loggerExitTimeout):
		// A logger that ignores the end of its input would otherwise
		// outlive the container; Wait still reaps it after the kill.
		_ = logger.Process.Kill()
		<-done
		return fmt.Errorf("binary logger %s did not exit after its input closed: killed", logger.Path)
	}
}

func parseTarget(s string) (*url.URL, error) {
	if s == "" {
		return &url.URL{}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
	}
	switch u.Scheme {
	case "", "fifo":
		return &url.URL{Path: s}, nil
	case "binary", "file":
		if u.Path == "" || !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("%q needs an absolute path: %w", s, errdefs.ErrInvalidArgument)
		}
		return u, nil
	}
	return nil, fmt.Errorf("unsupported stdio scheme %q: %w", u.Scheme, errdefs.ErrInvalidArgument)
}

func openNull() (*os.File, error) {
	return os.OpenFile(os.DevNull, os.O_RDWR, 0)
}

// openStdin opens the read end for the process and a write end held by the
// shim, so that a client closing its own write end does not EOF the process.
func openStdin(path string) (r, w *os.File, err error) {
	if path == "" {
		r, err = openNull()
		return r, nil, err
	}
	rfd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open stdin %s: %w", path, err)
	}
	growPipe(uintptr(rfd))
	// Reading blocks in the process, as it would on a terminal or a pipe.
	if err := unix.SetNonblock(rfd, false); err != nil {
		unix.Close(rfd)
		return nil, nil, fmt.Errorf("stdin %s: %w", path, err)
	}
	wfd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(rfd)
		return nil, nil, fmt.Errorf("open stdin %s for writing: %w", path, err)
	}
	return os.NewFile(uintptr(rfd), path), os.NewFile(uintptr(wfd), path), nil
}

// openOutput opens a FIFO for the process to write, holding a read end so
// that the process never meets a FIFO without readers.
func (i *IO) openOutput(path string) (*os.File, error) {
	if path == "" {
		return openNull()
	}
	hfd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	growPipe(uintptr(hfd))
	hold := os.NewFile(uintptr(hfd), path)
	i.mu.Lock()
	i.holds = append(i.holds, hold)
	i.mu.Unlock()
	wfd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s for writing: %w", path, err)
	}
	return os.NewFile(uintptr(wfd), path), nil
}

func openLogFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("log file directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return f, nil
}

func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("dup %s: %w", f.Name(), err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// loggerArgs renders the URI's query as arguments, keys sorted so that the
// command line does not depend on map order.
func loggerArgs(u *url.URL) []string {
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var args []string
	for _, k := range keys {
		args = append(args, k)
		if v := q[k]; len(v) > 0 && v[0] != "" {
			args = append(args, v[0])
		}
	}
	return args
}

// startLogger runs the binary:// logger with stdout on fd 3, stderr on fd 4
// and a readiness fd 5, which it closes once it is ready to read.
func (i *IO) startLogger(ctx context.Context, u *url.URL, owner Owner) (retErr error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		errR.Close()
		errW.Close()
		return err
	}
	defer readyR.Close()
	growPipeFile(outW)
	growPipeFile(errW)
	i.out, i.err = outW, errW

	cmd := exec.Command(u.Path, loggerArgs(u)...)
	cmd.Env = []string{
		"CONTAINER_ID=" + owner.ID,
		"CONTAINER_NAMESPACE=" + owner.Namespace,
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	}
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	ec, err := i.monitor.Start(cmd)
	outR.Close()
	errR.Close()
	readyW.Close()
	if err != nil {
		return fmt.Errorf("start binary logger %s: %w", u.Path, err)
	}
	i.mu.Lock()
	i.logger, i.loggerC = cmd, ec
	i.mu.Unlock()

	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		for {
			if _, err := readyR.Read(b); err != nil {
				ready <- nil
				return
			}
		}
	}()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		readyR.Close()
		return ctx.Err()
	case <-time.After(loggerReadyTimeout):
		readyR.Close()
		return errors.New("binary logger did not signal readiness in time")
	}
}
