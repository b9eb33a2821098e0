package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/console"
	eventsapi "github.com/containerd/containerd/api/events"
	runctypes "github.com/containerd/containerd/api/types/runc/options"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	stdio "github.com/raind/raind/io"
	"github.com/raind/raind/process"
	"github.com/raind/raind/runtime"
	"github.com/raind/raind/runtime/mount"
	taskapi "github.com/raind/raind/service/taskv3"
)

// empty is the reply of RPCs with nothing to say.
func empty() *emptypb.Empty { return &emptypb.Empty{} }

func (s *service) get(id string) (*container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	return c, nil
}

// getExec finds an exec of container id.
func (s *service) getExec(id, execID string) (*container, *execEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	if !ok {
		return nil, nil, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	e, ok := c.execs[execID]
	if !ok {
		return nil, nil, fmt.Errorf("exec %q in container %q: %w", execID, id, errdefs.ErrNotFound)
	}
	return c, e, nil
}

// proc is what State, Wait and Start need of either kind of process.
type proc interface {
	Pid() int
	Status() process.Status
	Exit() (int, time.Time)
	Done() <-chan struct{}
	Stdio() stdio.Config
}

func (s *service) getProc(id, execID string) (*container, proc, error) {
	if execID == "" {
		c, err := s.get(id)
		if err != nil {
			return nil, nil, err
		}
		return c, c.init, nil
	}
	c, e, err := s.getExec(id, execID)
	if err != nil {
		return nil, nil, err
	}
	return c, e.proc, nil
}

// Create creates the container with its init waiting for Start.
func (s *service) Create(ctx context.Context, r *taskapi.CreateTaskRequest) (_ *taskapi.CreateTaskResponse, retErr error) {
	if r.Id == "" {
		return nil, fmt.Errorf("empty container id: %w", errdefs.ErrInvalidArgument)
	}
	if r.Checkpoint != "" || r.ParentCheckpoint != "" {
		return nil, fmt.Errorf("restore from checkpoint: %w", errdefs.ErrNotImplemented)
	}
	s.mu.Lock()
	_, exists := s.containers[r.Id]
	_, busy := s.creating[r.Id]
	if exists || busy {
		s.mu.Unlock()
		return nil, fmt.Errorf("container %q: %w", r.Id, errdefs.ErrAlreadyExists)
	}
	s.creating[r.Id] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.creating, r.Id)
		s.mu.Unlock()
	}()

	opts, err := parseTaskOptions(r.Options)
	if err != nil {
		return nil, err
	}
	b, err := readSpecFile(r.Bundle)
	if err != nil {
		return nil, err
	}
	cfg, err := runtime.ParseConfig(b)
	if err != nil {
		return nil, refusal(fmt.Errorf("%s/config.json: %w", r.Bundle, err))
	}
	if err := checkCgroupDriver(opts.cgroupDriver, cfg.CgroupsPath(), cfg.Annotations()); err != nil {
		return nil, refusal(err)
	}
	// The stdio decides, whatever process.terminal says, as with the runc
	// shim.
	cfg.SetTerminal(r.Terminal)
	mounts := make([]mount.Mount, 0, len(r.Rootfs))
	for _, m := range r.Rootfs {
		mounts = append(mounts, mount.Mount{Type: m.Type, Source: m.Source, Target: m.Target, Options: m.Options})
	}
	self, err := s.initExe()
	if err != nil {
		return nil, err
	}
	ns := s.namespace
	since := time.Now()
	init, err := process.NewInit(ctx, process.InitConfig{
		ID:        r.Id,
		Namespace: ns,
		Bundle:    r.Bundle,
		Rootfs:    mounts,
		Stdio: stdio.Config{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal,
			UID: opts.ioUID, GID: opts.ioGID},
		Config:       cfg,
		NoPivot:      opts.noPivot,
		NoNewKeyring: opts.noNewKeyring,
		Init:         self,
		Monitor:      reaper.Default,
		Epoller:      func() (*console.Epoller, error) { return s.terminalEpoller(context.WithoutCancel(ctx)) },
	})
	if err != nil {
		return nil, refusal(err)
	}
	if err := writePidFile(filepath.Join(r.Bundle, initPidFile), init.Pid()); err != nil {
		log.G(ctx).WithError(err).Warn("writing init pid file")
	}
	c := &container{init: init, execs: map[string]*execEntry{}}
	t := &tracked{containerID: r.Id, id: r.Id, pid: init.Pid(), target: init, c: c, isInit: true}
	c.track = t
	s.register(t, since)

	s.mu.Lock()
	s.containers[r.Id] = c
	s.send(&eventsapi.TaskCreate{
		ContainerID: r.Id,
		Bundle:      r.Bundle,
		Rootfs:      r.Rootfs,
		IO:          &eventsapi.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
		Checkpoint:  r.Checkpoint,
		Pid:         uint32(init.Pid()),
	})
	s.mu.Unlock()
	s.watchOOM(ctx, r.Id, c, init)
	return &taskapi.CreateTaskResponse{Pid: uint32(init.Pid())}, nil
}

// Start runs the init's program.
func (s *service) Start(ctx context.Context, r *taskapi.StartRequest) (*taskapi.StartResponse, error) {
	if r.ExecId != "" {
		return s.startExec(ctx, r)
	}
	c, err := s.get(r.Id)
	if err != nil {
		return nil, err
	}
	if err := c.init.Start(ctx); err != nil {
		return nil, err
	}
	s.published(c.track, &eventsapi.TaskStart{ContainerID: r.Id, Pid: uint32(c.init.Pid())})
	return &taskapi.StartResponse{Pid: uint32(c.init.Pid())}, nil
}

// Delete removes the container once its init has exited.
func (s *service) Delete(ctx context.Context, r *taskapi.DeleteRequest) (*taskapi.DeleteResponse, error) {
	if r.ExecId != "" {
		return s.deleteExec(r)
	}
	c, err := s.get(r.Id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.releaseDrain(c.track) {
		log.G(ctx).WithField("id", r.Id).Info("deleted with the init's output unread")
	}
	s.mu.Unlock()
	if err := c.init.Delete(ctx); err != nil {
		return nil, err
	}
	code, at := c.init.Exit()
	s.mu.Lock()
	execs := c.execs
	c.execs = nil
	delete(s.containers, r.Id)
	delete(s.byPid, c.init.Pid())
	oom := detachOOM(c)
	s.send(&eventsapi.TaskDelete{
		ContainerID: r.Id,
		ID:          r.Id,
		Pid:         uint32(c.init.Pid()),
		ExitStatus:  uint32(code),
		ExitedAt:    timestamppb.New(at),
	})
	s.mu.Unlock()
	if oom != nil {
		// The cgroup is gone, which ends the watch anyway; this
		// waits for its goroutine.
		oom.stop(ctx, r.Id, time.Now().Add(oomStopTimeout))
	}
	// Execs the client never deleted still hold their FIFO ends; closing
	// them may wait for a terminal to drain, so not under s.mu.
	for id, e := range execs {
		if err := e.proc.Delete(); err != nil {
			log.G(ctx).WithError(err).WithField("exec", id).Warn("releasing exec of a deleted container")
		}
	}
	return &taskapi.DeleteResponse{
		Pid:        uint32(c.init.Pid()),
		ExitStatus: uint32(code),
		ExitedAt:   timestamppb.New(at),
	}, nil
}

func toTaskStatus(st process.Status) tasktypes.Status {
	switch st {
	case process.Created:
		return tasktypes.Status_CREATED
	case process.Running:
		return tasktypes.Status_RUNNING
	case process.Stopped, process.Deleted:
		return tasktypes.Status_STOPPED
	}
	return tasktypes.Status_UNKNOWN
}

// State reports the init's status.
func (s *service) State(ctx context.Context, r *taskapi.StateRequest) (*taskapi.StateResponse, error) {
	c, p, err := s.getProc(r.Id, r.ExecId)
	if err != nil {
		return nil, err
	}
	st := p.Status()
	code, at := p.Exit()
	io := p.Stdio()
	resp := &taskapi.StateResponse{
		Id:         r.Id,
		ExecId:     r.ExecId,
		Bundle:     c.init.Bundle(),
		Pid:        uint32(p.Pid()),
		Status:     toTaskStatus(st),
		Stdin:      io.Stdin,
		Stdout:     io.Stdout,
		Stderr:     io.Stderr,
		Terminal:   io.Terminal,
		ExitStatus: uint32(code),
	}
	if st >= process.Stopped {
		resp.ExitedAt = timestamppb.New(at)
	}
	if r.ExecId == "" && st == process.Running && c.init.Paused() {
		resp.Status = tasktypes.Status_PAUSED
	}
	return resp, nil
}

// Wait blocks until the init exits.
func (s *service) Wait(ctx context.Context, r *taskapi.WaitRequest) (*taskapi.WaitResponse, error) {
	_, p, err := s.getProc(r.Id, r.ExecId)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	code, at := p.Exit()
	return &taskapi.WaitResponse{ExitStatus: uint32(code), ExitedAt: timestamppb.New(at)}, nil
}

// Kill signals the init, or every process of the container.
func (s *service) Kill(ctx context.Context, r *taskapi.KillRequest) (*emptypb.Empty, error) {
	if r.Signal == 0 || r.Signal > 64 {
		return nil, fmt.Errorf("signal %d: %w", r.Signal, errdefs.ErrInvalidArgument)
	}
	if r.ExecId != "" {
		_, e, err := s.getExec(r.Id, r.ExecId)
		if err != nil {
			return nil, err
		}
		return empty(), e.proc.Kill(unix.Signal(r.Signal))
	}
	c, err := s.get(r.Id)
	if err != nil {
		return nil, err
	}
	if err := c.init.Kill(ctx, unix.Signal(r.Signal), r.All); err != nil {
		return nil, err
	}
	return empty(), nil
}

// Pids lists the container's processes.
func (s *service) Pids(ctx context.Context, r *taskapi.PidsRequest) (*taskapi.PidsResponse, error) {
	c, err := s.get(r.Id)
	if err != nil {
		return nil, err
	}
	pids, err := c.init.Pids()
	if err != nil {
		return nil, err
	}
	execByPid := map[int]string{}
	s.mu.Lock()
	for id, e := range c.execs {
		if pid := e.proc.Pid(); pid > 0 {
			execByPid[pid] = id
		}
	}
	s.mu.Unlock()
	resp := &taskapi.PidsResponse{}
	for _, pid := range pids {
		info := &tasktypes.ProcessInfo{Pid: uint32(pid)}
		if id, ok := execByPid[pid]; ok {
			// containerd's runc shim describes an exec so; clients
			// (ctr task ps) decode it by its type.
			a, err := typeurl.MarshalAnyToProto(&runctypes.ProcessDetails{ExecID: id})
			if err != nil {
				return nil, fmt.Errorf("process details of exec %s: %w", id, err)
			}
			info.Info = a
		}
		resp.Processes = append(resp.Processes, info)
	}
	return resp, nil
}

// CloseIO closes the init's stdin.
func (s *service) CloseIO(ctx context.Context, r *taskapi.CloseIORequest) (*emptypb.Empty, error) {
	if !r.Stdin {
		return empty(), nil
	}
	if r.ExecId != "" {
		_, e, err := s.getExec(r.Id, r.ExecId)
		if err != nil {
			return nil, err
		}
		return empty(), e.proc.CloseIO()
	}
	c, err := s.get(r.Id)
	if err != nil {
		return nil, err
	}
	return empty(), c.init.CloseIO()
}

// Connect returns the shim's and the task's pids.
func (s *service) Connect(ctx context.Context, r *taskapi.ConnectRequest) (*taskapi.ConnectResponse, error) {
	resp := &taskapi.ConnectResponse{ShimPid: uint32(os.Getpid())}
	if c, err := s.get(r.Id); err == nil {
		resp.TaskPid = uint32(c.init.Pid())
	}
	return resp, nil
}

// Shutdown stops the shim once it serves no container.
func (s *service) Shutdown(ctx context.Context, r *taskapi.ShutdownRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	n := len(s.containers) + len(s.creating)
	s.mu.Unlock()
	if n > 0 {
		return empty(), nil
	}
	s.shutdownOnce.Do(func() { close(s.shutdown) })
	return empty(), nil
}

// ResizePty sets the window size of a terminal process.
func (s *service) ResizePty(ctx context.Context, r *taskapi.ResizePtyRequest) (*emptypb.Empty, error) {
	if r.ExecId != "" {
		_, e, err := s.getExec(r.Id, r.ExecId)
		if err != nil {
			return nil, err
		}
		return empty(), e.proc.Resize(r.Width, r.Height)
	}
	c, err := s.get(r.Id)
	if err != nil {
		return nil, err
	}
	return empty(), c.init.Resize(r.Width, r.Height)
}
