package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Monitor starts and reaps a child. In the shim it is the reaper, whose
// wait4(-1) loop would otherwise steal the exit from exec.Cmd.Wait; a
// process without a reaper uses Direct.
type Monitor interface {
	Start(*exec.Cmd) (chan runc.Exit, error)
	Wait(*exec.Cmd, chan runc.Exit) (int, error)
}

// Direct is the Monitor of a process that has no reaper (the container's
// init, the shim's short-lived delete action): exec.Cmd waits for its own
// child.
type Direct struct{}

// Start starts c.
func (Direct) Start(c *exec.Cmd) (chan runc.Exit, error) { return nil, c.Start() }

// Wait waits for c and returns its exit status, 128+signal for a signal,
// as the reaper reports it.
func (Direct) Wait(c *exec.Cmd, _ chan runc.Exit) (int, error) {
	err := c.Wait()
	if c.ProcessState == nil {
		return -1, err
	}
	if ws, ok := c.ProcessState.Sys().(unix.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return c.ProcessState.ExitCode(), nil
}

// outputLimit bounds how much of a failed hook's output its error quotes.
const outputLimit = 4096

// Options are what a caller adds to the hook's own settings.
type Options struct {
	// DefaultEnv is the environment of a hook whose env is not set.
	DefaultEnv []string
}

// RunAll runs hooks of one kind in order and stops at the first failure,
// whose error names the kind and the hook's place in the list.
func RunAll(ctx context.Context, m Monitor, kind string, hs []specs.Hook, state *specs.State, opts Options) error {
	if len(hs) == 0 {
		return nil
	}
	data, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("%s hooks: encode state: %w", kind, err)
	}
	for i, h := range hs {
		if err := run(ctx, m, h, data, opts); err != nil {
			return fmt.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err)
		}
	}
	return nil
}

// RunEach runs every hook of one kind, whatever the others did, and
// returns their failures joined: poststart and poststop failures are only
// warnings, and "the remaining hooks ... continue as if the hook had
// succeeded".
func RunEach(ctx context.Context, m Monitor, kind string, hs []specs.Hook, state *specs.State, opts Options) error {
	if len(hs) == 0 {
		return nil
	}
	data, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("%s hooks: encode state: %w", kind, err)
	}
	var errs []error
	for i, h := range hs {
		if err := run(ctx, m, h, data, opts); err != nil {
			errs = append(errs, fmt.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err))
		}
	}
	return errors.Join(errs...)
}

// Run runs one hook with state on its stdin.
func Run(ctx context.Context, m Monitor, h specs.Hook, state *specs.State, opts Options) error {
	data, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return run(ctx, m, h, data, opts)
}

func run(ctx context.Context, m Monitor, h specs.Hook, state []byte, opts Options) error {
	if h.Path == "" || !strings.HasPrefix(h.Path, "/") {
		return fmt.Errorf("hook path %q is not absolute: %w", h.Path, errdefs.ErrInvalidArgument)
	}
	if h.Timeout != nil && *h.Timeout <= 0 {
		return fmt.Errorf("hook timeout %d is not positive: %w", *h.Timeout, errdefs.ErrInvalidArgument)
	}
	// Memory files rather than pipes: exec.Cmd then copies nothing in
	// goroutines, so a hook that leaves a child holding its stdout cannot
	// make the wait hang, and no pipe can fill up.
	stdin, err := memfile("hook-state", state)
	if err != nil {
		return err
	}
	defer stdin.Close()
	output, err := memfile("hook-output", nil)
	if err != nil {
		return err
	}
	defer output.Close()
	env := h.Env
	if env == nil {
		env = opts.DefaultEnv
	}
	if env == nil {
		// exec.Cmd would read nil as "our own environment".
		env = []string{}
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	cmd := &exec.Cmd{
		Path:   h.Path,
		Args:   args,
		Env:    env,
		Stdin:  stdin,
		Stdout: output,
		Stderr: output,
		Dir:    "/",
	}
	ec, err := m.Start(cmd)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	timedOut := make(chan struct{})
	var timer *time.Timer
	if h.Timeout != nil {
		timer = time.AfterFunc(time.Duration(*h.Timeout)*time.Second, func() {
			close(timedOut)
			_ = cmd.Process.Signal(unix.SIGKILL)
		})
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Signal(unix.SIGKILL) })
	status, werr := m.Wait(cmd, ec)
	stop()
	if timer != nil {
		timer.Stop()
	}
	// The exit is reaped; the pidfd exec.Cmd may hold would otherwise
	// stay open until a garbage collection.
	_ = cmd.Process.Release()
	select {
	case <-timedOut:
		return fmt.Errorf("timed out after %ds and was killed with SIGKILL: %w", *h.Timeout, errdefs.ErrFailedPrecondition)
	default:
	}
	if ctx.Err() != nil {
		return fmt.Errorf("killed: %w", ctx.Err())
	}
	if werr != nil {
		return fmt.Errorf("wait: %w", werr)
	}
	if status != 0 {
		return fmt.Errorf("exited with status %d%s: %w", status, quote(output), errdefs.ErrFailedPrecondition)
	}
	return nil
}

// memfile returns a close-on-exec memory file holding data, at offset 0.
func memfile(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd for %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if len(data) > 0 {
		if _, err := f.Write(data); err != nil {
			f.Close()
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
		if _, err := f.Seek(0, 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("rewind %s: %w", name, err)
		}
	}
	return f, nil
}

// quote is the start of what a failed hook printed, for its error.
func quote(f *os.File) string {
	buf := make([]byte, outputLimit)
	n, err := f.ReadAt(buf, 0)
	if n == 0 && err != nil && !errors.Is(err, os.ErrClosed) {
		return ""
	}
	s := strings.TrimSpace(string(buf[:n]))
	if s == "" {
		return ""
	}
	return ": " + s
}
