package process

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	stdio "github.com/raind/raind/io"
	"github.com/raind/raind/runtime"
)

// Exec is a process added to a running container. Nothing runs until
// Start; Exec only records what to run.
type Exec struct {
	lifecycle
	id      string
	init    *Init
	spec    *runtime.ProcessConfig
	stdio   stdio.Config
	monitor stdio.Monitor
	ns      string
	io      *stdio.IO
	proc    *runtime.Process
	pid     int
}

// NewExec records an exec of spec in init's container.
func NewExec(init *Init, id, namespace string, spec *runtime.ProcessConfig, cfg stdio.Config, monitor stdio.Monitor) (*Exec, error) {
	if spec == nil {
		return nil, fmt.Errorf("exec %s has no process spec: %w", id, errdefs.ErrInvalidArgument)
	}
	if init.Paused() {
		// As the runc shim: a frozen container runs nothing new.
		return nil, fmt.Errorf("cannot exec in container %s: it is paused: %w", init.ID(), errdefs.ErrFailedPrecondition)
	}
	// The container's io_uid/io_gid hold for its execs too, as with the
	// runc shim.
	cfg.UID, cfg.GID = init.stdio.UID, init.stdio.GID
	return &Exec{lifecycle: newLifecycle(), id: id, init: init, spec: spec, stdio: cfg, monitor: monitor, ns: namespace}, nil
}

// ID returns the exec id.
func (e *Exec) ID() string { return e.id }

// Pid returns the exec's pid, 0 before Start.
func (e *Exec) Pid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pid
}

// Stdio returns the stdio containerd asked for.
func (e *Exec) Stdio() stdio.Config { return e.stdio }

// Start runs the process inside the container.
func (e *Exec) Start(ctx context.Context) error {
	if e.init.Paused() {
		return fmt.Errorf("cannot exec in container %s: it is paused: %w", e.init.ID(), errdefs.ErrFailedPrecondition)
	}
	if e.init.Status() != Running {
		return fmt.Errorf("container %s is %s: %w", e.init.ID(), e.init.Status(), errdefs.ErrFailedPrecondition)
	}
	if err := e.transition(Running, Created); err != nil {
		return err
	}
	fail := func(err error) error {
		// A process that never ran is finished: Wait returns, Delete works.
		e.SetExited(255, time.Now())
		return err
	}
	io, err := stdio.Open(ctx, e.stdio, stdio.Owner{ID: e.init.ID(), Namespace: e.ns}, e.monitor)
	if err != nil {
		return fail(fmt.Errorf("stdio of exec %s: %w", e.id, err))
	}
	in, out, errf := io.Files()
	p, err := e.init.Container().Exec(ctx, e.spec, runtime.Stdio{In: in, Out: out, Err: errf})
	io.CloseProcessSide()
	if err != nil {
		io.Close()
		return fail(err)
	}
	if master := p.Console(); master != nil {
		ep, err := e.init.epoller()
		if err == nil {
			err = io.AttachConsole(master, ep)
		}
		if err != nil {
			_ = p.Signal(syscall.SIGKILL)
			io.Close()
			return fail(fmt.Errorf("console of exec %s: %w", e.id, err))
		}
	}
	e.mu.Lock()
	e.io, e.proc, e.pid = io, p, p.Pid()
	e.mu.Unlock()
	return nil
}

// SetExited records the exit and releases the terminal relay's wait.
func (e *Exec) SetExited(code int, at time.Time) {
	e.lifecycle.SetExited(code, at)
	io := e.currentIO()
	if io != nil {
		io.ProcessExited()
	}
}

// UnreadOutput is how much of the exec's output its client has not read.
func (e *Exec) UnreadOutput() int {
	io := e.currentIO()
	if io == nil {
		return 0
	}
	return io.Unread()
}

// WaitOutputRead waits, bounded, until the client has read the exec's
// output (see stdio.IO.WaitRead).
func (e *Exec) WaitOutputRead() bool {
	io := e.currentIO()
	if io == nil {
		return true
	}
	return io.WaitRead()
}

// currentIO is the exec's stdio, nil until Start has opened it.
func (e *Exec) currentIO() *stdio.IO {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.io
}

// Resize sets the exec's terminal size.
func (e *Exec) Resize(width, height uint32) error {
	io := e.currentIO()
	if io == nil {
		return fmt.Errorf("exec %s has not started: %w", e.id, errdefs.ErrFailedPrecondition)
	}
	return io.Resize(width, height)
}

// Kill signals the exec.
func (e *Exec) Kill(sig syscall.Signal) error {
	switch e.Status() {
	case Created:
		return fmt.Errorf("exec %s was never started: %w", e.id, errdefs.ErrFailedPrecondition)
	case Stopped, Deleted:
		return fmt.Errorf("exec %s already finished: %w", e.id, errdefs.ErrNotFound)
	}
	return e.proc.Signal(sig)
}

// CloseIO closes the exec's stdin.
func (e *Exec) CloseIO() error {
	io := e.currentIO()
	if io == nil {
		return nil
	}
	return io.CloseStdin()
}

// Delete releases the exec once it has exited or if it never started.
func (e *Exec) Delete() error {
	switch e.Status() {
	case Running:
		return fmt.Errorf("exec %s is running: %w", e.id, errdefs.ErrFailedPrecondition)
	case Deleted:
		return fmt.Errorf("exec %s: %w", e.id, errdefs.ErrNotFound)
	}
	e.mu.Lock()
	io := e.io
	e.io = nil
	e.status = Deleted
	e.mu.Unlock()
	if io != nil {
		return io.Close()
	}
	return nil
}
