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
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/raind/raind/runtime/hooks"
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
	// NoNewKeyring keeps the caller's session keyring; otherwise the
	// container's processes join one of their own (keyring.go).
	NoNewKeyring bool
	// Self is the binary to re-execute; empty means /proc/self/exe.
	Self string
	// Cgroups makes the container's cgroup (see Cgroups).
	Cgroups Cgroups
}

// Container is a created container: its init process, blocked before
// execve until Start, and its cgroup.
type Container struct {
	id     string
	rootfs string
	// ownPidNS: the container has a new pid namespace. Little else of
	// its Config is kept (below): a shim holds a Container for the
	// container's whole life.
	ownPidNS bool
	// userNS and timeNS: the container has a user or time namespace of
	// its own (new or joined), which its execs enter too.
	userNS, timeNS bool
	self           string
	monitor        Monitor
	cgroup         Cgroup
	cgroups        Cgroups
	// keyring is the session keyring its processes join, or "".
	keyring string
	init    *Process
	// bundle, annotations and the runtime's later hooks are what
	// poststart and poststop need.
	bundle      string
	annotations map[string]string
	poststart   []specs.Hook
	poststop    []specs.Hook
	// stopped: the poststop hooks have run, on the container's first
	// successful Destroy.
	stopped bool
	// seccomp is the spec's linux.seccomp, which exec processes get too,
	// and agent its notify agent; both nil without a profile.
	seccomp json.RawMessage
	agent   *seccompAgent
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
	plan, err := planNamespaces(spec.Linux)
	if err != nil {
		return nil, err
	}
	self := opts.Self
	if self == "" {
		self = "/proc/self/exe"
	}

	c := &Container{id: opts.ID, rootfs: rootfs, self: self, monitor: opts.Monitor, ownPidNS: ownPidNamespace(spec.Linux.Namespaces),
		bundle: opts.Bundle, annotations: spec.Annotations,
		userNS: containsNS(spec.Linux.Namespaces, specs.UserNamespace), timeNS: containsNS(spec.Linux.Namespaces, specs.TimeNamespace)}
	var runtimeHooks func(context.Context, int) error
	if h := spec.Hooks; h != nil {
		c.poststart, c.poststop = h.Poststart, h.Poststop
		if len(h.Prestart) > 0 || len(h.CreateRuntime) > 0 {
			runtimeHooks = func(ctx context.Context, pid int) error {
				st := c.state(specs.StateCreating, pid)
				if err := hooks.RunAll(ctx, c.monitor, "prestart", h.Prestart, st, runtimeHookOptions()); err != nil {
					return err
				}
				return hooks.RunAll(ctx, c.monitor, "createRuntime", h.CreateRuntime, st, runtimeHookOptions())
			}
		}
	}
	if present(spec.Linux.Seccomp) {
		c.seccomp = spec.Linux.Seccomp
		if c.agent, err = newSeccompAgent(c.seccomp, opts.ID, opts.Bundle, spec.Annotations); err != nil {
			return nil, err
		}
	}
	if c.execAttrs, err = execAttrsOf(spec.Linux); err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	cgPath := cfg.cgroupPath(opts.ID)
	if opts.Cgroups.New == nil {
		return nil, fmt.Errorf("create container %s: no cgroup driver: %w", opts.ID, errdefs.ErrInvalidArgument)
	}
	c.cgroups = opts.Cgroups
	if !opts.NoNewKeyring {
		c.keyring = sessionKeyring(opts.ID)
	}
	c.cgroup, err = opts.Cgroups.New(cgPath, withDeviceDefaults(spec.Linux.Resources))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", cgPath, err)
	}
	defer func() {
		if retErr != nil {
			// The container existed, if only half made: undoing it ends
			// its lifecycle, poststop hooks included (runtime-spec's step
			// 12 and 13 after a failed create hook; runc's destroy).
			if err := c.destroyCgroup(); err == nil {
				c.runPoststop(context.WithoutCancel(ctx))
			}
		}
	}()

	var attach func(int) error
	if a, ok := c.cgroup.(cgroupAttacher); ok {
		attach = a.Attach
	}
	// Made before the init, in the host's user namespace; the init holds
	// its own copies once spawned, so ours go either way.
	trees, err := mountTrees(spec, opts.Monitor)
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", opts.ID, err)
	}
	c.init, err = spawn(ctx, spawnRequest{
		self:   self,
		stdio:  opts.Stdio,
		attach: attach,
		ns: nsenter.Request{
			OOMScoreAdj: spec.Process.OOMScoreAdj,
			CgroupProcs: c.cgroup.ProcsFiles(),
			Join:        plan.join,
			UserNS:      plan.userNS,
			NewFlags:    plan.newFlags,
			TimeOffsets: plan.timeOffsets,
			Fork:        plan.fork,
		},
		maps: plan.maps,
		config: &initConfig{Spec: cfg.data, Rootfs: rootfs, NoPivot: opts.NoPivot, ID: opts.ID, Bundle: opts.Bundle, Terminal: ptr(cfg.Terminal()),
			Keyring: c.keyring},
		terminal:     cfg.Terminal(),
		monitor:      opts.Monitor,
		runtimeHooks: runtimeHooks,
		// The init loads its filter, and hands the listener over, while
		// the container is being created.
		agent:       c.agent.forProcess(specs.StateCreating, 0),
		initialCPUs: spec.Process.affinity.Initial,
		mountTrees:  trees,
	})
	if cerr := closeFiles(trees); cerr != nil {
		// Only a bookkeeping failure: the init holds its own copies.
		log.G(ctx).WithError(cerr).Warn("close mount trees")
	}
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", opts.ID, err)
	}
	if c.userNS && containsNS(spec.Linux.Namespaces, specs.CgroupNamespace) {
		if err := delegateCgroup(c.cgroup, c.init.pid); err != nil {
			c.init.Close()
			return nil, fmt.Errorf("create container %s: %w", opts.ID, err)
		}
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
func (c *Container) Cgroup() Cgroup { return c.cgroup }

// Start lets the init run the user's program (after the startContainer
// hooks, which the init runs). It returns once execve has happened and the
// poststart hooks have run, or with the reason it could not. A failing
// poststart hook is only logged, as the runtime-spec asks.
func (c *Container) Start(ctx context.Context) error {
	if err := c.init.release(ctx); err != nil {
		return err
	}
	if len(c.poststart) > 0 {
		st := c.state(specs.StateRunning, c.init.pid)
		if err := hooks.RunEach(ctx, c.monitor, "poststart", c.poststart, st, runtimeHookOptions()); err != nil {
			log.G(ctx).WithError(err).WithField("container", c.id).Warn("poststart hook failed")
		}
	}
	return nil
}

// state is the container's state as its hooks get it.
func (c *Container) state(status specs.ContainerState, pid int) *specs.State {
	return &specs.State{
		Version:     specs.Version,
		ID:          c.id,
		Status:      status,
		Pid:         pid,
		Bundle:      c.bundle,
		Annotations: c.annotations,
	}
}

// runtimeHookOptions: a hook the runtime runs without an env of its own
// gets the runtime's environment, as with runc, which hooks written for
// it expect.
func runtimeHookOptions() hooks.Options {
	return hooks.Options{DefaultEnv: os.Environ()}
}

// runPoststop runs the poststop hooks once, logging failures.
func (c *Container) runPoststop(ctx context.Context) {
	if c.stopped {
		return
	}
	c.stopped = true
	if len(c.poststop) == 0 {
		return
	}
	if err := hooks.RunEach(ctx, c.monitor, "poststop", c.poststop, c.state(specs.StateStopped, 0), runtimeHookOptions()); err != nil {
		log.G(ctx).WithError(err).WithField("container", c.id).Warn("poststop hook failed")
	}
}

// Exec runs proc inside the running container: in all of init's namespaces
// and the container's cgroup (init's own, below it, when a v2 container
// cgroup takes no process: see ExecProcsFiles). It returns once execve has
// happened.
func (c *Container) Exec(ctx context.Context, proc *ProcessConfig, stdio Stdio) (*Process, error) {
	if proc == nil {
		return nil, fmt.Errorf("no exec process spec: %w", errdefs.ErrInvalidArgument)
	}
	if err := unix.Kill(c.init.pid, 0); err != nil {
		return nil, fmt.Errorf("container %s is not running: %w", c.id, errdefs.ErrFailedPrecondition)
	}
	procs, err := c.cgroup.ExecProcsFiles(c.init.pid)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", c.id, err)
	}
	p, err := spawn(ctx, spawnRequest{
		self:  c.self,
		stdio: stdio,
		ns: nsenter.Request{
			OOMScoreAdj: proc.view.OOMScoreAdj,
			CgroupProcs: procs,
			Join:        execJoinPaths(c.init.pid, c.userNS, c.timeNS),
			UserNS:      execUserNS(c.userNS),
			Fork:        true,
		},
		config: &initConfig{Exec: true, Process: proc.data, Seccomp: c.seccomp, ContainerAttrs: c.execAttrs, Terminal: ptr(proc.Terminal()),
			Keyring: c.keyring},
		terminal:    proc.Terminal(),
		monitor:     c.monitor,
		agent:       c.agent.forProcess(specs.StateRunning, c.init.pid),
		initialCPUs: proc.view.affinity.Initial,
	})
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", c.id, err)
	}
	return p, nil
}

// execUserNS: an exec joins the container's user namespace, if it has one.
func execUserNS(userNS bool) nsenter.UserNS {
	if userNS {
		return nsenter.JoinUserNS
	}
	return nsenter.NoUserNS
}

// KillAll sends sig to every process of the container, through its cgroup
// so that processes outside init's pid namespace are reached too.
func (c *Container) KillAll(sig syscall.Signal) error {
	return c.cgroups.KillAll(c.cgroup, sig, 0)
}

// Destroy kills whatever is left of the container and removes its cgroup,
// then runs the poststop hooks (once, and only after a complete removal;
// their failures are logged). It is safe to call more than once, but not
// concurrently.
func (c *Container) Destroy(ctx context.Context) error {
	if c.init != nil {
		c.init.Close()
	}
	if err := c.destroyCgroup(); err != nil {
		return err
	}
	c.runPoststop(ctx)
	return nil
}

func (c *Container) destroyCgroup() error {
	if err := c.cgroups.KillAll(c.cgroup, unix.SIGKILL, 5*time.Second); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("kill processes of %s: %w", c.id, err)
	}
	if err := c.cgroup.Delete(); err != nil {
		return fmt.Errorf("remove cgroup of %s: %w", c.id, err)
	}
	return nil
}

// Cleanup removes what a container left behind when its owner died:
// processes in its cgroup and the cgroup itself, after which it runs the
// spec's poststop hooks, since the container's owner cannot have. It
// reads bundle/config.json; without one there is nothing it knows to
// clean. The cgroup is what says the container still existed (as runc's
// state directory does for runc delete): containerd calls the shim's
// delete action after every shim exit, also after a Destroy that already
// removed the cgroup and ran the hooks, and then Cleanup does nothing.
// m starts and reaps the hooks; nil means the caller has no reaper.
func Cleanup(ctx context.Context, bundle, id string, m Monitor, cgs Cgroups) error {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read %s/config.json: %w", bundle, err)
	}
	// Not ParseConfig: a spec raind would now refuse still has a cgroup
	// to remove and hooks to run.
	var spec specView
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("parse %s/config.json: %v: %w", bundle, err, errdefs.ErrInvalidArgument)
	}
	cgroupsPath := defaultCgroupPath(id)
	if spec.Linux != nil && spec.Linux.CgroupsPath != "" {
		cgroupsPath = spec.Linux.CgroupsPath
	}
	existed, err := removeCgroup(cgs, cgroupsPath)
	if err != nil {
		return err
	}
	if existed && spec.Hooks != nil && len(spec.Hooks.Poststop) > 0 {
		var mon hooks.Monitor = hooks.Direct{}
		if m != nil {
			mon = m
		}
		st := &specs.State{Version: specs.Version, ID: id, Status: specs.StateStopped, Bundle: bundle, Annotations: spec.Annotations}
		if err := hooks.RunEach(ctx, mon, "poststop", spec.Hooks.Poststop, st, runtimeHookOptions()); err != nil {
			log.G(ctx).WithError(err).WithField("container", id).Warn("poststop hook failed")
		}
	}
	return nil
}

// removeCgroup kills the processes of a cgroup and removes it. It reports
// whether there was one.
func removeCgroup(cgs Cgroups, cgroupsPath string) (bool, error) {
	cg, err := cgs.Load(cgroupsPath)
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	if err := cgs.KillAll(cg, unix.SIGKILL, 5*time.Second); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return true, err
	}
	return true, cg.Delete()
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

func ptr[T any](v T) *T { return &v }
