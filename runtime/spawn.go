package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"

	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/raind/raind/runtime/nsenter"
)

// Monitor starts and reaps direct children. Under a shim it is the reaper,
// whose wait4(-1) loop would otherwise steal the status from exec.Cmd.Wait.
type Monitor interface {
	Start(*exec.Cmd) (chan runc.Exit, error)
	Wait(*exec.Cmd, chan runc.Exit) (int, error)
	Unsubscribe(chan runc.Exit)
}

// Stdio is the open files a process gets as fds 0, 1 and 2. The caller keeps
// ownership and closes its copies once the process has started.
type Stdio struct {
	In, Out, Err *os.File
}

// Process is a spawned container process, blocked until Start for an init,
// or already running for an exec.
type Process struct {
	pid     int
	conn    net.Conn
	dec     *json.Decoder
	once    sync.Once
	console *os.File
	// agent receives the seccomp notify listener, if the profile has one;
	// fds holds it from the socket until then (seccomp_agent.go).
	agent *seccompAgent
	fds   *fdReader
}

// Console returns the pty master of a terminal process; the caller owns it.
func (p *Process) Console() *os.File { return p.console }

// Pid returns the process id in the caller's pid namespace.
func (p *Process) Pid() int { return p.pid }

// Signal sends sig to the process.
func (p *Process) Signal(sig unix.Signal) error {
	if err := unix.Kill(p.pid, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("process %d: %w", p.pid, errdefs.ErrNotFound)
		}
		return fmt.Errorf("signal %d to process %d: %w", sig, p.pid, err)
	}
	return nil
}

// Close releases the sync socket. It does not touch the process.
func (p *Process) Close() error {
	var err error
	p.once.Do(func() { err = p.conn.Close() })
	return err
}

// release tells a process blocked before execve to go ahead, and waits until
// execve happened or the child reports why it could not.
func (p *Process) release(ctx context.Context) error {
	if p.dec == nil {
		return fmt.Errorf("process %d: already started: %w", p.pid, errdefs.ErrFailedPrecondition)
	}
	stop := closeOnDone(ctx, p.conn)
	defer stop()
	if p.agent != nil {
		// A listener that comes after start (no_new_privs) comes from a
		// created container.
		p.agent.state.Status = specs.StateCreated
	}
	if err := json.NewEncoder(p.conn).Encode(message{Type: msgStart}); err != nil {
		return fmt.Errorf("signal start to %d: %w", p.pid, err)
	}
	return p.awaitExec(ctx)
}

// awaitExec turns the end of the sync socket into success, and an error
// message into the cause. It is the decoder's last use.
func (p *Process) awaitExec(ctx context.Context) error {
	defer p.Close()
	// Its buffers (6 KiB) would otherwise live as long as the process.
	defer func() { p.dec, p.agent, p.fds = nil, nil, nil }()
	if p.fds != nil {
		defer p.fds.close()
	}
	for {
		var m message
		if err := p.dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("waiting for exec of %d: %w", p.pid, err)
		}
		if m.Type != msgSeccomp {
			return fmt.Errorf("start process: %w", childFailure(m))
		}
		if err := p.handOverListener(ctx); err != nil {
			return fmt.Errorf("start process %d: %w", p.pid, wrapCtx(ctx, err))
		}
	}
}

// spawnRequest is one re-exec of the runtime binary as a container process.
type spawnRequest struct {
	self  string
	stdio Stdio
	ns    nsenter.Request
	// maps are the id maps of the spec: written when the constructor
	// asks for them (a new user namespace), checked against a joined
	// one's; nil when the spec has none.
	maps     *nsenter.Maps
	config   *initConfig
	terminal bool
	monitor  Monitor
	// runtimeHooks runs the prestart and createRuntime hooks when the
	// init asks (msgHooks); nil if the spec has none.
	runtimeHooks func(ctx context.Context, pid int) error
	// attach, if set, is told the pid once the child has joined its
	// cgroup and before it is sent its config; an error ends the child.
	attach func(pid int) error
	// agent is the seccomp agent of the process's profile, or nil.
	agent *seccompAgent
	// initialCPUs is process.execCPUAffinity.initial, if any.
	initialCPUs *unix.CPUSet
	// mountTrees are the detached id-mapped mounts the init attaches, by
	// mount index (idmount.go); the caller keeps and closes them.
	mountTrees map[int]*os.File
}

// spawn starts the child, learns its pid from the constructor, sends its
// config and waits until it is ready (init) or has run execve (exec).
func spawn(ctx context.Context, req spawnRequest) (*Process, error) {
	conn, childFile, err := socketPair("sync")
	if err != nil {
		return nil, err
	}
	req.ns.SyncFD = 3
	env, err := req.ns.Env()
	if err != nil {
		childFile.Close()
		conn.Close()
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	extra := []*os.File{childFile}
	var consoleConn *net.UnixConn
	var consoleChild *os.File
	if req.terminal {
		c, cf, err := socketPair("console")
		if err != nil {
			childFile.Close()
			conn.Close()
			return nil, err
		}
		consoleConn, consoleChild = c.(*net.UnixConn), cf
		defer consoleConn.Close()
		extra = append(extra, consoleChild)
		req.config.ConsoleFD = consoleFD
	}
	extra = appendMountTrees(extra, req.mountTrees, req.config)
	cmd := &exec.Cmd{
		Path:       req.self,
		Args:       []string{"raind-init"},
		Env:        append(env, "GOMAXPROCS=1", "GOGC=off"),
		Stdin:      req.stdio.In,
		Stdout:     req.stdio.Out,
		Stderr:     req.stdio.Err,
		ExtraFiles: extra,
		Dir:        "/",
	}
	ec, err := startChild(req.monitor, cmd, req.initialCPUs)
	childFile.Close()
	if consoleChild != nil {
		// Only the child may hold it now, so its death ends our read.
		consoleChild.Close()
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("start %s: %w", req.self, err)
	}

	stop := closeOnDone(ctx, conn)
	defer stop()
	pid, err := constructorPid(conn, cmd.Process.Pid, req.ns, req.maps)
	if err != nil || pid != cmd.Process.Pid {
		// Either the child failed, or it forked and the intermediate has
		// finished its job: reap it in both cases.
		if _, werr := req.monitor.Wait(cmd, ec); werr != nil && err == nil {
			err = werr
		}
	} else {
		req.monitor.Unsubscribe(ec)
	}
	// The reaper owns the exit; the pidfd exec.Cmd holds would otherwise
	// stay open until a garbage collection.
	_ = cmd.Process.Release()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("enter namespaces: %w", wrapCtx(ctx, err))
	}

	p := &Process{pid: pid, conn: conn, agent: req.agent}
	r, fds := syncReader(conn, req.agent)
	p.dec, p.fds = newDecoder(r), fds
	fail := func(err error) (*Process, error) {
		// The child is blocked on us or already gone; either way it must
		// not outlive a failed spawn.
		_ = unix.Kill(pid, unix.SIGKILL)
		p.Close()
		if p.console != nil {
			p.console.Close()
		}
		return nil, wrapCtx(ctx, err)
	}
	if req.attach != nil {
		if err := req.attach(pid); err != nil {
			return fail(fmt.Errorf("cgroup of %d: %w", pid, err))
		}
	}
	if req.ns.UserNS == nsenter.JoinUserNS && req.maps != nil {
		// A pod's containers name the user namespace they share and its
		// mappings; these must be the namespace's, or the container
		// would run with ids other than the ones it was set up for.
		if err := checkJoinedMaps(pid, *req.maps); err != nil {
			return fail(err)
		}
	}
	req.config.Pid = pid
	req.config.RuntimeHooks = req.runtimeHooks != nil
	if err := json.NewEncoder(conn).Encode(message{Type: msgConfig, Config: req.config}); err != nil {
		return fail(fmt.Errorf("send config to %d: %w", pid, err))
	}
	if req.config.Exec {
		if consoleConn != nil {
			if err := p.receiveConsole(ctx, consoleConn); err != nil {
				return fail(err)
			}
		}
		if err := p.awaitExec(ctx); err != nil {
			return fail(err)
		}
		return p, nil
	}
	for ready := false; !ready; {
		var m message
		if err := p.dec.Decode(&m); err != nil {
			return fail(fmt.Errorf("init %d died while preparing the container: %w", pid, err))
		}
		switch {
		case m.Type == msgHooks && req.runtimeHooks != nil:
			if err := req.runtimeHooks(ctx, pid); err != nil {
				return fail(err)
			}
			if err := json.NewEncoder(conn).Encode(message{Type: msgHooksDone}); err != nil {
				return fail(fmt.Errorf("resume %d after the createRuntime hooks: %w", pid, err))
			}
		case m.Type == msgSeccomp:
			// Loaded before the init drops its capabilities; runc hands
			// the listener over during create too.
			if err := p.handOverListener(ctx); err != nil {
				return fail(err)
			}
		case m.Type == msgReady:
			ready = true
		default:
			return fail(childFailure(m))
		}
	}
	// The init sent the pty master before it said ready (it sets up the
	// console after the root switch, which the hooks come before).
	if consoleConn != nil {
		if err := p.receiveConsole(ctx, consoleConn); err != nil {
			return fail(err)
		}
	}
	// The init exits when it loses the socket, so a context that ended
	// after the last read must fail the spawn here rather than leave a
	// container that dies before Start.
	if !stop() {
		return fail(fmt.Errorf("init %d: %w", pid, ctx.Err()))
	}
	return p, nil
}

// constructorPid reads the constructor's reports up to the pid of the
// process that goes on as the container process. Before it come the
// requests only a process outside may serve, each at most once and only
// if planned: "U<pid>" for the maps of a new user namespace, made first,
// and "T<pid>" for the offsets of a new time namespace. If one cannot be
// served the child is killed (it waits for our answer, and must not run
// on unmapped or with the host's clocks) and the error names the file.
func constructorPid(conn io.ReadWriter, child int, ns nsenter.Request, maps *nsenter.Maps) (int, error) {
	mapped, offset := false, false
	fail := func(err error) (int, error) {
		// Only our child is killed by pid: a forked process a report
		// names ends when it loses the socket, which the caller closes.
		_ = unix.Kill(child, unix.SIGKILL)
		return 0, err
	}
	for {
		kind, pid, err := readReport(conn)
		if err != nil {
			return 0, err
		}
		switch {
		case kind == 'U' && ns.UserNS == nsenter.NewUserNS && maps != nil && !mapped && pid == child:
			mapped = true
			if err := maps.Write(pid); err != nil {
				return fail(fmt.Errorf("user namespace of %d: %w: %w", pid, err, errdefs.ErrFailedPrecondition))
			}
			if _, err := conn.Write([]byte{nsenter.MapAck}); err != nil {
				return fail(fmt.Errorf("resume %d after its id maps: %w", pid, err))
			}
		case kind == 'T' && ns.TimeOffsets != "" && !offset && pid == child:
			offset = true
			if err := nsenter.WriteTimeOffsets(pid, ns.TimeOffsets); err != nil {
				return fail(fmt.Errorf("time namespace of %d: %w: %w", pid, err, errdefs.ErrFailedPrecondition))
			}
			if _, err := conn.Write([]byte{nsenter.TimeAck}); err != nil {
				return fail(fmt.Errorf("resume %d after its time offsets: %w", pid, err))
			}
		case kind == 'P':
			if ns.UserNS == nsenter.NewUserNS && !mapped {
				return fail(fmt.Errorf("process %d did not ask for the maps of its user namespace", pid))
			}
			if ns.TimeOffsets != "" && !offset {
				return fail(fmt.Errorf("process %d did not ask for the offsets of its time namespace", pid))
			}
			return pid, nil
		default:
			return fail(fmt.Errorf("unexpected request %c%d from the constructor", kind, pid))
		}
	}
}

// receiveConsole takes the pty master the child sent.
func (p *Process) receiveConsole(ctx context.Context, consoleConn *net.UnixConn) error {
	deadline, _ := ctx.Deadline()
	master, err := recvMaster(consoleConn, deadline)
	if err != nil {
		// The child says why on the sync socket, if it got that far.
		var m message
		if derr := p.dec.Decode(&m); derr == nil && m.Type == msgError {
			err = childFailure(m)
		}
		return err
	}
	p.console = master
	return nil
}

// childFailure is the error a child reported, or a protocol error for any
// other message where success or an error was due.
func childFailure(m message) error {
	if m.Type == msgError {
		if m.Invalid {
			return fmt.Errorf("%s: %w", m.Error, errdefs.ErrInvalidArgument)
		}
		return fmt.Errorf("%s: %w", m.Error, errdefs.ErrFailedPrecondition)
	}
	return fmt.Errorf("unexpected message %q from the container process", m.Type)
}

// socketPair returns our end of a close-on-exec stream socketpair as a
// net.Conn and the child's end as a file for exec.Cmd.ExtraFiles.
func socketPair(name string) (net.Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%s socketpair: %w", name, err)
	}
	parent := os.NewFile(uintptr(fds[0]), name+"-parent")
	child := os.NewFile(uintptr(fds[1]), name+"-child")
	conn, err := net.FileConn(parent)
	parent.Close()
	if err != nil {
		child.Close()
		return nil, nil, fmt.Errorf("%s socket: %w", name, err)
	}
	return conn, child, nil
}

// closeOnDone makes blocking socket I/O honour ctx: c is closed if ctx ends
// before stop is called. stop reports whether it came first, that is,
// whether c is still open. After stop returns true, c is never closed on
// ctx's account, even if ctx ends the next instant (as a request's context
// does once its handler returns).
func closeOnDone(ctx context.Context, c io.Closer) (stop func() bool) {
	return context.AfterFunc(ctx, func() { c.Close() })
}

func wrapCtx(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w: %v", ctx.Err(), err)
	}
	return err
}
