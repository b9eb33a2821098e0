package service

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"

	stdio "github.com/raind/raind/io"
	"github.com/raind/raind/process"
	"github.com/raind/raind/runtime"
	"github.com/raind/raind/service/taskpb"
)

// Exec records an exec process; it runs on Start.
func (s *service) Exec(ctx context.Context, r *taskpb.ExecProcessRequest) (*taskpb.Empty, error) {
	if r.ExecID == "" {
		return nil, fmt.Errorf("empty exec id: %w", errdefs.ErrInvalidArgument)
	}
	if r.Spec == nil {
		return nil, fmt.Errorf("exec %s has no process spec: %w", r.ExecID, errdefs.ErrInvalidArgument)
	}
	spec, err := runtime.ParseProcess(r.Spec.Value)
	if err != nil {
		return nil, refusal(fmt.Errorf("exec %s: %w", r.ExecID, err))
	}
	if spec.Terminal() != r.Terminal {
		return nil, fmt.Errorf("exec %s: process.terminal is %v but its stdio is for terminal=%v: %w", r.ExecID, spec.Terminal(), r.Terminal, errdefs.ErrInvalidArgument)
	}
	ns := s.namespace
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[r.ID]
	if !ok {
		return nil, fmt.Errorf("container %q: %w", r.ID, errdefs.ErrNotFound)
	}
	if _, dup := c.execs[r.ExecID]; dup {
		return nil, fmt.Errorf("exec %q in container %q: %w", r.ExecID, r.ID, errdefs.ErrAlreadyExists)
	}
	if st := c.init.Status(); st != process.Running {
		return nil, fmt.Errorf("container %s is %s: %w", r.ID, st, errdefs.ErrFailedPrecondition)
	}
	e, err := process.NewExec(c.init, r.ExecID, ns, spec, stdio.Config{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal}, reaper.Default)
	if err != nil {
		return nil, err
	}
	c.execs[r.ExecID] = &execEntry{proc: e}
	s.send(&taskpb.TaskExecAdded{ContainerID: r.ID, ExecID: r.ExecID})
	return empty, nil
}

func (s *service) startExec(ctx context.Context, r *taskpb.StartRequest) (*taskpb.StartResponse, error) {
	c, e, err := s.getExec(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	since := time.Now()
	if err := e.proc.Start(ctx); err != nil {
		return nil, refusal(err)
	}
	t := &tracked{containerID: r.ID, id: r.ExecID, pid: e.proc.Pid(), target: e.proc, c: c}
	s.mu.Lock()
	e.track = t
	s.mu.Unlock()
	s.register(t, since)
	s.published(t, &taskpb.TaskExecStarted{ContainerID: r.ID, ExecID: r.ExecID, Pid: uint32(e.proc.Pid())})
	return &taskpb.StartResponse{Pid: uint32(e.proc.Pid())}, nil
}

func (s *service) deleteExec(r *taskpb.DeleteRequest) (*taskpb.DeleteResponse, error) {
	c, e, err := s.getExec(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if err := e.proc.Delete(); err != nil {
		return nil, err
	}
	code, at := e.proc.Exit()
	s.mu.Lock()
	delete(c.execs, r.ExecID)
	s.mu.Unlock()
	return &taskpb.DeleteResponse{Pid: uint32(e.proc.Pid()), ExitStatus: uint32(code), ExitedAt: at}, nil
}
