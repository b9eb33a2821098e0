package service

import (
	"context"
	"fmt"
	"time"

	eventsapi "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	stdio "github.com/raind/raind/io"
	"github.com/raind/raind/process"
	"github.com/raind/raind/runtime"
	taskapi "github.com/raind/raind/service/taskv3"
)

// Exec records an exec process; it runs on Start.
func (s *service) Exec(ctx context.Context, r *taskapi.ExecProcessRequest) (*emptypb.Empty, error) {
	if r.ExecId == "" {
		return nil, fmt.Errorf("empty exec id: %w", errdefs.ErrInvalidArgument)
	}
	if r.Spec == nil {
		return nil, fmt.Errorf("exec %s has no process spec: %w", r.ExecId, errdefs.ErrInvalidArgument)
	}
	spec, err := runtime.ParseProcess(r.Spec.Value)
	if err != nil {
		return nil, refusal(fmt.Errorf("exec %s: %w", r.ExecId, err))
	}
	// The exec's stdio decides, whatever its process.terminal says, as
	// with the runc shim (containerd's client runs a terminal exec of a
	// process spec without one).
	spec.SetTerminal(r.Terminal)
	ns := s.namespace
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[r.Id]
	if !ok {
		return nil, fmt.Errorf("container %q: %w", r.Id, errdefs.ErrNotFound)
	}
	if _, dup := c.execs[r.ExecId]; dup {
		return nil, fmt.Errorf("exec %q in container %q: %w", r.ExecId, r.Id, errdefs.ErrAlreadyExists)
	}
	if st := c.init.Status(); st != process.Running {
		return nil, fmt.Errorf("container %s is %s: %w", r.Id, st, errdefs.ErrFailedPrecondition)
	}
	e, err := process.NewExec(c.init, r.ExecId, ns, spec, stdio.Config{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal}, reaper.Default)
	if err != nil {
		return nil, err
	}
	c.execs[r.ExecId] = &execEntry{proc: e}
	s.send(&eventsapi.TaskExecAdded{ContainerID: r.Id, ExecID: r.ExecId})
	return empty(), nil
}

func (s *service) startExec(ctx context.Context, r *taskapi.StartRequest) (*taskapi.StartResponse, error) {
	c, e, err := s.getExec(r.Id, r.ExecId)
	if err != nil {
		return nil, err
	}
	since := time.Now()
	if err := e.proc.Start(ctx); err != nil {
		return nil, refusal(err)
	}
	t := &tracked{containerID: r.Id, id: r.ExecId, pid: e.proc.Pid(), target: e.proc, c: c}
	s.mu.Lock()
	e.track = t
	s.mu.Unlock()
	s.register(t, since)
	s.published(t, &eventsapi.TaskExecStarted{ContainerID: r.Id, ExecID: r.ExecId, Pid: uint32(e.proc.Pid())})
	return &taskapi.StartResponse{Pid: uint32(e.proc.Pid())}, nil
}

func (s *service) deleteExec(r *taskapi.DeleteRequest) (*taskapi.DeleteResponse, error) {
	c, e, err := s.getExec(r.Id, r.ExecId)
	if err != nil {
		return nil, err
	}
	if err := e.proc.Delete(); err != nil {
		return nil, err
	}
	code, at := e.proc.Exit()
	s.mu.Lock()
	delete(c.execs, r.ExecId)
	s.mu.Unlock()
	return &taskapi.DeleteResponse{Pid: uint32(e.proc.Pid()), ExitStatus: uint32(code), ExitedAt: timestamppb.New(at)}, nil
}
