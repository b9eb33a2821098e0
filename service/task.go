package service

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"

	stdio "github.com/raind/raind/io"
	"github.com/raind/raind/process"
	"github.com/raind/raind/runtime"
	"github.com/raind/raind/runtime/mount"
	"github.com/raind/raind/service/taskpb"
)

// empty is the reply of RPCs with nothing to say; it is never modified.
var empty = &taskpb.Empty{}

// refusal turns "raind does not implement this part of the spec" into
// InvalidArgument for Create and Exec: containerd reads Unimplemented from
// those calls as "this task API version is not served" and loses the
// message.
func refusal(err error) error {
	if errdefs.IsNotImplemented(err) {
		return fmt.Errorf("not supported by raind: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return err
}

// readSpecFile reads the bundle's config.json.
func readSpecFile(bundle string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("bundle %s has no config.json: %w", bundle, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("read config.json: %w", err)
	}
	return b, nil
}

// readSpecPart decodes part of the bundle's config.json into v, a struct
// with only the fields wanted: the short-lived start and delete actions
// need an annotation or the cgroup path, and should not refuse a spec for
// anything else.
func readSpecPart(bundle string, v any) error {
	b, err := readSpecFile(bundle)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s/config.json: %v: %w", bundle, err, errdefs.ErrInvalidArgument)
	}
	return nil
}

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
func (s *service) Create(ctx context.Context, r *taskpb.CreateTaskRequest) (_ *taskpb.CreateTaskResponse, retErr error) {
	if r.ID == "" {
		return nil, fmt.Errorf("empty container id: %w", errdefs.ErrInvalidArgument)
	}
	if r.Checkpoint != "" || r.ParentCheckpoint != "" {
		return nil, fmt.Errorf("restore from checkpoint: %w", errdefs.ErrNotImplemented)
	}
	s.mu.Lock()
	_, exists := s.containers[r.ID]
	_, busy := s.creating[r.ID]
	if exists || busy {
		s.mu.Unlock()
		return nil, fmt.Errorf("container %q: %w", r.ID, errdefs.ErrAlreadyExists)
	}
	s.creating[r.ID] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.creating, r.ID)
		s.mu.Unlock()
	}()

	b, err := readSpecFile(r.Bundle)
	if err != nil {
		return nil, err
	}
	cfg, err := runtime.ParseConfig(b)
	if err != nil {
		return nil, refusal(fmt.Errorf("%s/config.json: %w", r.Bundle, err))
	}
	if cfg.Terminal() != r.Terminal {
		return nil, fmt.Errorf("process.terminal is %v but the task's stdio is for terminal=%v: %w", cfg.Terminal(), r.Terminal, errdefs.ErrInvalidArgument)
	}
	mounts := make([]mount.Mount, 0, len(r.Rootfs))
	for _, m := range r.Rootfs {
		mounts = append(mounts, mount.Mount{Type: m.Type, Source: m.Source, Target: m.Target, Options: m.Options})
	}
	ns := s.namespace
	since := time.Now()
	init, err := process.NewInit(ctx, process.InitConfig{
		ID:        r.ID,
		Namespace: ns,
		Bundle:    r.Bundle,
		Rootfs:    mounts,
		Stdio:     stdio.Config{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
		Config:    cfg,
		Monitor:   reaper.Default,
		Epoller:   func() (*console.Epoller, error) { return s.terminalEpoller(context.WithoutCancel(ctx)) },
	})
	if err != nil {
		return nil, refusal(err)
	}
	if err := writePidFile(filepath.Join(r.Bundle, initPidFile), init.Pid()); err != nil {
		log.G(ctx).WithError(err).Warn("writing init pid file")
	}
	c := &container{init: init, execs: map[string]*execEntry{}}
	t := &tracked{containerID: r.ID, id: r.ID, pid: init.Pid(), target: init, c: c, isInit: true}
	c.track = t
	s.register(t, since)

	s.mu.Lock()
	s.containers[r.ID] = c
	s.send(&taskpb.TaskCreate{
		ContainerID: r.ID,
		Bundle:      r.Bundle,
		Rootfs:      r.Rootfs,
		IO:          &taskpb.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
		Checkpoint:  r.Checkpoint,
		Pid:         uint32(init.Pid()),
	})
	s.mu.Unlock()
	return &taskpb.CreateTaskResponse{Pid: uint32(init.Pid())}, nil
}

// Start runs the init's program.
func (s *service) Start(ctx context.Context, r *taskpb.StartRequest) (*taskpb.StartResponse, error) {
	if r.ExecID != "" {
		return s.startExec(ctx, r)
	}
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if err := c.init.Start(ctx); err != nil {
		return nil, err
	}
	s.published(c.track, &taskpb.TaskStart{ContainerID: r.ID, Pid: uint32(c.init.Pid())})
	return &taskpb.StartResponse{Pid: uint32(c.init.Pid())}, nil
}

// Delete removes the container once its init has exited.
func (s *service) Delete(ctx context.Context, r *taskpb.DeleteRequest) (*taskpb.DeleteResponse, error) {
	if r.ExecID != "" {
		return s.deleteExec(r)
	}
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if err := c.init.Delete(ctx); err != nil {
		return nil, err
	}
	code, at := c.init.Exit()
	s.mu.Lock()
	execs := c.execs
	c.execs = nil
	delete(s.containers, r.ID)
	delete(s.byPid, c.init.Pid())
	s.send(&taskpb.TaskDelete{
		ContainerID: r.ID,
		ID:          r.ID,
		Pid:         uint32(c.init.Pid()),
		ExitStatus:  uint32(code),
		ExitedAt:    at,
	})
	s.mu.Unlock()
	// Execs the client never deleted still hold their FIFO ends; closing
	// them may wait for a terminal to drain, so not under s.mu.
	for id, e := range execs {
		if err := e.proc.Delete(); err != nil {
			log.G(ctx).WithError(err).WithField("exec", id).Warn("releasing exec of a deleted container")
		}
	}
	return &taskpb.DeleteResponse{
		Pid:        uint32(c.init.Pid()),
		ExitStatus: uint32(code),
		ExitedAt:   at,
	}, nil
}

func toTaskStatus(st process.Status) taskpb.Status {
	switch st {
	case process.Created:
		return taskpb.StatusCreated
	case process.Running:
		return taskpb.StatusRunning
	case process.Stopped, process.Deleted:
		return taskpb.StatusStopped
	}
	return taskpb.StatusUnknown
}

// State reports the init's status.
func (s *service) State(ctx context.Context, r *taskpb.StateRequest) (*taskpb.StateResponse, error) {
	c, p, err := s.getProc(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	st := p.Status()
	code, at := p.Exit()
	io := p.Stdio()
	resp := &taskpb.StateResponse{
		ID:         r.ID,
		ExecID:     r.ExecID,
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
		resp.ExitedAt = at
	}
	return resp, nil
}

// Wait blocks until the init exits.
func (s *service) Wait(ctx context.Context, r *taskpb.WaitRequest) (*taskpb.WaitResponse, error) {
	_, p, err := s.getProc(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	code, at := p.Exit()
	return &taskpb.WaitResponse{ExitStatus: uint32(code), ExitedAt: at}, nil
}

// Kill signals the init, or every process of the container.
func (s *service) Kill(ctx context.Context, r *taskpb.KillRequest) (*taskpb.Empty, error) {
	if r.Signal == 0 || r.Signal > 64 {
		return nil, fmt.Errorf("signal %d: %w", r.Signal, errdefs.ErrInvalidArgument)
	}
	if r.ExecID != "" {
		_, e, err := s.getExec(r.ID, r.ExecID)
		if err != nil {
			return nil, err
		}
		return empty, e.proc.Kill(unix.Signal(r.Signal))
	}
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if err := c.init.Kill(ctx, unix.Signal(r.Signal), r.All); err != nil {
		return nil, err
	}
	return empty, nil
}

// Pids lists the container's processes.
func (s *service) Pids(ctx context.Context, r *taskpb.PidsRequest) (*taskpb.PidsResponse, error) {
	c, err := s.get(r.ID)
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
	resp := &taskpb.PidsResponse{}
	for _, pid := range pids {
		info := &taskpb.ProcessInfo{Pid: uint32(pid)}
		if id, ok := execByPid[pid]; ok {
			d := &taskpb.ProcessDetails{ExecID: id}
			info.Info = &taskpb.Any{TypeURL: d.TypeURL(), Value: d.Marshal()}
		}
		resp.Processes = append(resp.Processes, info)
	}
	return resp, nil
}

// CloseIO closes the init's stdin.
func (s *service) CloseIO(ctx context.Context, r *taskpb.CloseIORequest) (*taskpb.Empty, error) {
	if !r.Stdin {
		return empty, nil
	}
	if r.ExecID != "" {
		_, e, err := s.getExec(r.ID, r.ExecID)
		if err != nil {
			return nil, err
		}
		return empty, e.proc.CloseIO()
	}
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	return empty, c.init.CloseIO()
}

// Connect returns the shim's and the task's pids.
func (s *service) Connect(ctx context.Context, r *taskpb.ConnectRequest) (*taskpb.ConnectResponse, error) {
	resp := &taskpb.ConnectResponse{ShimPid: uint32(os.Getpid())}
	if c, err := s.get(r.ID); err == nil {
		resp.TaskPid = uint32(c.init.Pid())
	}
	return resp, nil
}

// Shutdown stops the shim once it serves no container.
func (s *service) Shutdown(ctx context.Context, r *taskpb.ShutdownRequest) (*taskpb.Empty, error) {
	s.mu.Lock()
	n := len(s.containers) + len(s.creating)
	s.mu.Unlock()
	if n > 0 {
		return empty, nil
	}
	s.shutdownOnce.Do(func() { close(s.shutdown) })
	return empty, nil
}

func notImplemented(what string) error {
	return fmt.Errorf("%s: %w", what, errdefs.ErrNotImplemented)
}

// ResizePty sets the window size of a terminal process.
func (s *service) ResizePty(ctx context.Context, r *taskpb.ResizePtyRequest) (*taskpb.Empty, error) {
	if r.ExecID != "" {
		_, e, err := s.getExec(r.ID, r.ExecID)
		if err != nil {
			return nil, err
		}
		return empty, e.proc.Resize(r.Width, r.Height)
	}
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	return empty, c.init.Resize(r.Width, r.Height)
}

// Pause is not implemented yet.
func (s *service) Pause(ctx context.Context, r *taskpb.PauseRequest) (*taskpb.Empty, error) {
	return nil, notImplemented("pause")
}

// Resume is not implemented yet.
func (s *service) Resume(ctx context.Context, r *taskpb.ResumeRequest) (*taskpb.Empty, error) {
	return nil, notImplemented("resume")
}

// Checkpoint is not implemented.
func (s *service) Checkpoint(ctx context.Context, r *taskpb.CheckpointTaskRequest) (*taskpb.Empty, error) {
	return nil, notImplemented("checkpoint")
}

// Update is not implemented yet.
func (s *service) Update(ctx context.Context, r *taskpb.UpdateTaskRequest) (*taskpb.Empty, error) {
	return nil, notImplemented("update")
}

// Stats is not implemented yet.
func (s *service) Stats(ctx context.Context, r *taskpb.StatsRequest) (*taskpb.StatsResponse, error) {
	return nil, notImplemented("stats")
}
