package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	stdio "github.com/raind/raind/io"
	"github.com/raind/raind/runtime"
	"github.com/raind/raind/runtime/cgroups"
	"github.com/raind/raind/runtime/mount"
)

// deleteWaitTimeout bounds how long Delete waits for a killed, never
// started init to exit.
const deleteWaitTimeout = 10 * time.Second

// InitConfig is what Create gets from containerd.
type InitConfig struct {
	ID, Namespace, Bundle string
	Rootfs                []mount.Mount
	Stdio                 stdio.Config
	Config                *runtime.Config
	Monitor               runtime.Monitor
	// NoPivot switches the root with MS_MOVE and chroot (the runc
	// options' no_pivot_root).
	NoPivot bool
	// NoNewKeyring keeps the shim's session keyring for the container
	// (the runc options' no_new_keyring).
	NoNewKeyring bool
	// Init is the container init binary; empty re-executes this one.
	Init string
	// Epoller returns the epoller that drives the shim's terminal relays;
	// it is called only for a process with a terminal.
	Epoller func() (*console.Epoller, error)
}

// Init is a container's init process and, through it, the container.
type Init struct {
	lifecycle
	id        string
	bundle    string
	rootfs    string
	mounted   bool
	stdio     stdio.Config
	io        *stdio.IO
	container *runtime.Container
	pid       int
	epoller   func() (*console.Epoller, error)

	// pauseMu guards paused: Pause and Resume (pause.go).
	pauseMu sync.Mutex
	paused  bool
}

// NewInit mounts the root filesystem, opens stdio and creates the container
// with its init waiting for Start. On error nothing is left behind.
func NewInit(ctx context.Context, cfg InitConfig) (_ *Init, retErr error) {
	p := &Init{lifecycle: newLifecycle(), id: cfg.ID, bundle: cfg.Bundle, stdio: cfg.Stdio, epoller: cfg.Epoller}
	defer func() {
		if retErr != nil {
			p.cleanup(ctx)
		}
	}()
	p.rootfs = filepath.Join(cfg.Bundle, "rootfs")
	if len(cfg.Rootfs) > 0 {
		if err := os.MkdirAll(p.rootfs, 0o711); err != nil {
			return nil, fmt.Errorf("rootfs mount point: %w", err)
		}
		if err := mount.All(cfg.Rootfs, p.rootfs); err != nil {
			return nil, fmt.Errorf("mount rootfs of %s: %v: %w", cfg.ID, err, errdefs.ErrInvalidArgument)
		}
		p.mounted = true
	}
	var err error
	p.io, err = stdio.Open(ctx, cfg.Stdio, stdio.Owner{ID: cfg.ID, Namespace: cfg.Namespace}, cfg.Monitor)
	if err != nil {
		return nil, fmt.Errorf("stdio of %s: %w", cfg.ID, err)
	}
	in, out, errf := p.io.Files()
	p.container, err = runtime.Create(ctx, runtime.CreateOpts{
		ID:           cfg.ID,
		Config:       cfg.Config,
		Bundle:       cfg.Bundle,
		Stdio:        runtime.Stdio{In: in, Out: out, Err: errf},
		Monitor:      cfg.Monitor,
		NoPivot:      cfg.NoPivot,
		NoNewKeyring: cfg.NoNewKeyring,
		Cgroups:      Cgroups(),
		Self:         cfg.Init,
	})
	p.io.CloseProcessSide()
	if err != nil {
		return nil, err
	}
	p.pid = p.container.Init().Pid()
	if master := p.container.Init().Console(); master != nil {
		ep, err := p.epoller()
		if err == nil {
			err = p.io.AttachConsole(master, ep)
		}
		if err != nil {
			return nil, fmt.Errorf("console of %s: %w", cfg.ID, err)
		}
	}
	return p, nil
}

// SetExited records the exit and tells the terminal relay, if any, that
// the pty's slave side is gone for good.
func (p *Init) SetExited(code int, at time.Time) {
	p.lifecycle.SetExited(code, at)
	if p.io != nil {
		p.io.ProcessExited()
	}
}

// UnreadOutput is how much of the init's output its client has not read.
func (p *Init) UnreadOutput() int {
	if p.io == nil {
		return 0
	}
	return p.io.Unread()
}

// WaitOutputRead waits, bounded, until the client has read the init's
// output (see stdio.IO.WaitRead).
func (p *Init) WaitOutputRead() bool {
	if p.io == nil {
		return true
	}
	return p.io.WaitRead()
}

// Resize sets the init's terminal size.
func (p *Init) Resize(width, height uint32) error { return p.io.Resize(width, height) }

// ID returns the container id.
func (p *Init) ID() string { return p.id }

// Bundle returns the container's bundle directory.
func (p *Init) Bundle() string { return p.bundle }

// Pid returns the init's pid.
func (p *Init) Pid() int { return p.pid }

// Stdio returns the stdio containerd asked for.
func (p *Init) Stdio() stdio.Config { return p.stdio }

// Container returns the runtime container.
func (p *Init) Container() *runtime.Container { return p.container }

// Start runs the user's program.
func (p *Init) Start(ctx context.Context) error {
	if err := p.transition(Running, Created); err != nil {
		return err
	}
	if err := p.container.Start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", p.id, err)
	}
	return nil
}

// Kill signals the init, or with all every process of the container.
func (p *Init) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	switch p.Status() {
	case Stopped, Deleted:
		if all {
			// Processes outside a private pid namespace may outlive init.
			return p.container.KillAll(sig)
		}
		return fmt.Errorf("process %d of %s already finished: %w", p.pid, p.id, errdefs.ErrNotFound)
	}
	if all {
		if err := p.container.KillAll(sig); err != nil {
			return err
		}
		return p.afterKill(sig)
	}
	if err := p.container.Init().Signal(sig); err != nil {
		return err
	}
	return p.afterKill(sig)
}

// CloseIO closes the container's stdin.
func (p *Init) CloseIO() error { return p.io.CloseStdin() }

// Pids lists the container's processes.
func (p *Init) Pids() ([]int, error) { return p.container.Cgroup().Pids() }

// manager is the container's cgroup as runtime/cgroups made it (Cgroups).
func (p *Init) manager() (cgroups.Manager, error) {
	m, ok := p.container.Cgroup().(cgroups.Manager)
	if !ok {
		return nil, fmt.Errorf("cgroup of %s is a %T: %w", p.id, p.container.Cgroup(), errdefs.ErrInternal)
	}
	return m, nil
}

// Stats is the container's cgroup metrics, in cgroups/v3's own types (v1
// or v2 Metrics), as containerd's runc shim returns them.
func (p *Init) Stats() (proto.Message, error) {
	if p.Status() == Deleted {
		return nil, fmt.Errorf("container %s: %w", p.id, errdefs.ErrNotFound)
	}
	m, err := p.manager()
	if err != nil {
		return nil, err
	}
	return m.Stats()
}

// Update applies new resource limits to the running container.
func (p *Init) Update(res *specs.LinuxResources) error {
	if s := p.Status(); s != Created && s != Running {
		return fmt.Errorf("container %s is %s: %w", p.id, s, errdefs.ErrFailedPrecondition)
	}
	m, err := p.manager()
	if err != nil {
		return err
	}
	if err := m.Update(runtime.ResourcesForUpdate(res)); err != nil {
		return fmt.Errorf("update resources of %s: %w", p.id, err)
	}
	return nil
}

// Delete tears the container down: a never-started init is killed first; a
// running one is refused.
func (p *Init) Delete(ctx context.Context) error {
	switch p.Status() {
	case Running:
		return fmt.Errorf("container %s is running: %w", p.id, errdefs.ErrFailedPrecondition)
	case Deleted:
		return fmt.Errorf("container %s: %w", p.id, errdefs.ErrNotFound)
	case Created:
		_ = p.container.Init().Signal(unix.SIGKILL)
		select {
		case <-p.Done():
		case <-time.After(deleteWaitTimeout):
			return fmt.Errorf("init of %s did not exit after SIGKILL", p.id)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := p.cleanup(ctx)
	p.mu.Lock()
	p.status = Deleted
	p.mu.Unlock()
	return err
}

func (p *Init) cleanup(ctx context.Context) error {
	var errs []error
	if p.container != nil {
		if err := p.container.Destroy(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if p.io != nil {
		if err := p.io.Close(); err != nil {
			log.G(ctx).WithError(err).Warn("closing stdio")
		}
	}
	if p.mounted {
		if err := mount.UnmountRecursive(p.rootfs); err != nil {
			errs = append(errs, fmt.Errorf("unmount rootfs of %s: %w", p.id, err))
		} else {
			p.mounted = false
		}
	}
	return errors.Join(errs...)
}
