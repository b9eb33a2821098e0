package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/raind/raind/runtime/cgroups"
	"github.com/raind/raind/runtime/nsenter"
)

// CreateOpts describes a container to create.
type CreateOpts struct {
	ID string
	// Config is the bundle's runtime-spec; its root path is resolved
	// against Bundle.
	Config *Config
	Bundle string
	Stdio  Stdio
	// Monitor reaps the runtime's direct children.
	Monitor Monitor
	// NoPivot uses MS_MOVE and chroot instead of pivot_root.
	NoPivot bool
	// Self is the binary to re-execute; empty means /proc/self/exe.
	Self string
}

// Container is a created container: its init process, blocked before
// execve until Start, and its cgroup.
type Container struct {
	id     string
	rootfs string
	// ownPidNS: the container has a new pid namespace. Nothing else of
	// its Config is kept: a shim holds a Container for the container's
	// whole life.
	ownPidNS bool
	self     string
	monitor  Monitor
	cgroup   cgroups.Manager
	init     *Process
	// execAttrs are the containerAttrs its execs get, usually none.
	execAttrs json.RawMessage
}

// Create prepares the cgroup, spawns the init into its namespaces and has it
// build the root filesystem. On error nothing is left behind.
func Create(ctx context.Context, opts CreateOpts) (_ *Container, retErr error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, fmt.Errorf("no runtime spec: %w", errdefs.ErrInvalidArgument)
	}
	// ParseConfig has checked that process, root and linux are there.
	spec := &cfg.view
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(opts.Bundle, rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil {
		return nil, fmt.Errorf("root filesystem %s: %w", rootfs, errdefs.ErrNotFound)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("root filesystem %s is not a directory: %w", rootfs, errdefs.ErrInvalidArgument)
	}
	plan, err := planNamespaces(spec.Linux.Namespaces)
	if err != nil {
		return nil, err
	}
	self := opts.Self
	if self == "" {
		self = "/proc/self/exe"
	}

	c := &Container{id: opts.ID, rootfs: rootfs, self: self, monitor: opts.Monitor, ownPidNS: ownPidNamespace(spec.Linux.Namespaces)}
	if c.execAttrs, err = execAttrsOf(spec.Linux); err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	cgPath := cfg.cgroupPath(opts.ID)
	c.cgroup, err = cgroups.New(cgPath, withDeviceDefaults(spec.Linux.Resources))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", cgPath, err)
	}
	defer func() {
		if retErr != nil {
			c.destroyCgroup()
		}
	}()

	c.init, err = spawn(ctx, spawnRequest{
		self:  self,
		stdio: opts.Stdio,
		ns: nsenter.Request{
			CgroupProcs: c.cgroup.ProcsFiles(),
			Join:        plan.join,
			NewFlags:    plan.newFlags,
			Fork:        plan.fork,
		},
		config:      &initConfig{Spec: cfg.data, Rootfs: rootfs, NoPivot: opts.NoPivot},
		terminal:    cfg.Terminal(),
		monitor:     opts.Monitor,
		initialCPUs: spec.Process.affinity.Initial,
	})
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", opts.ID, err)
	}
	if err := c.moveNetDevices(spec.Linux.NetDevices); err != nil {
		c.init.Close()
		return nil, fmt.Errorf("create container %s: %w", opts.ID, err)
	}
	return c, nil
}

// ID returns the container id.
func (c *Container) ID() string { return c.id }

// Init returns the container's init process.
func (c *Container) Init() *Process { return c.init }

// Cgroup returns the container's cgroup.
func (c *Container) Cgroup() cgroups.Manager { return c.cgroup }

// Start lets the init run the user's program. It returns once execve has
// happened, or with the reason it could not.
func (c *Container) Start(ctx context.Context) error {
	return c.init.release(ctx)
}

// Exec runs proc inside the running container: in all of init's namespaces
// and its cgroup. It returns once execve has happened.
func (c *Container) Exec(ctx context.Context, proc *ProcessConfig, stdio Stdio) (*Process, error) {
	if proc == nil {
		return nil, fmt.Errorf("no exec process spec: %w", errdefs.ErrInvalidArgument)
	}
	if err := unix.Kill(c.init.pid, 0); err != nil {
		return nil, fmt.Errorf("container %s is not running: %w", c.id, errdefs.ErrFailedPrecondition)
	}
	p, err := spawn(ctx, spawnRequest{
		self:  c.self,
		stdio: stdio,
		ns: nsenter.Request{
			CgroupProcs: c.cgroup.ProcsFiles(),
			Join:        execJoinPaths(c.init.pid),
			Fork:        true,
		},
		config:      &initConfig{Exec: true, Process: proc.data, ContainerAttrs: c.execAttrs},
		terminal:    proc.Terminal(),
		monitor:     c.monitor,
		initialCPUs: proc.view.affinity.Initial,
	})
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", c.id, err)
	}
	return p, nil
}

// KillAll sends sig to every process of the container, through its cgroup
// so that processes outside init's pid namespace are reached too.
func (c *Container) KillAll(sig syscall.Signal) error {
	return cgroups.KillAll(c.cgroup, sig, 0)
}

// Destroy kills whatever is left of the container and removes its cgroup.
// It is safe to call more than once.
func (c *Container) Destroy() error {
	if c.init != nil {
		c.init.Close()
	}
	return c.destroyCgroup()
}

func (c *Container) destroyCgroup() error {
	if err := cgroups.KillAll(c.cgroup, unix.SIGKILL, 5*time.Second); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("kill processes of %s: %w", c.id, err)
	}
	if err := c.cgroup.Delete(); err != nil {
		return fmt.Errorf("remove cgroup of %s: %w", c.id, err)
	}
	return nil
}

// Cleanup removes what a container left behind when its owner died:
// processes in its cgroup and the cgroup itself. It is idempotent.
// cgroupsPath is the spec's linux.cgroupsPath; empty means raind's default
// for id.
func Cleanup(cgroupsPath, id string) error {
	if cgroupsPath == "" {
		cgroupsPath = defaultCgroupPath(id)
	}
	cg, err := cgroups.Load(cgroupsPath)
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return nil
		}
		return err
	}
	if err := cgroups.KillAll(cg, unix.SIGKILL, 5*time.Second); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	return cg.Delete()
}

// Rootfs returns the host path of the container's root filesystem.
func (c *Container) Rootfs() string { return c.rootfs }

// OwnPidNamespace reports whether the container has a new pid namespace,
// in which case the kernel ends every process in it when init exits.
func (c *Container) OwnPidNamespace() bool { return c.ownPidNS }

func ownPidNamespace(namespaces []specs.LinuxNamespace) bool {
	for _, ns := range namespaces {
		if ns.Type == specs.PIDNamespace {
			return ns.Path == ""
		}
	}
	return false
}
