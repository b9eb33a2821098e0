package service

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	ptypes "github.com/containerd/containerd/v2/pkg/protobuf/types"
	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	stdio "github.com/raind/raind/io"
	"github.com/raind/raind/process"
)

// Exec records an exec process; it runs on Start.
func (s *service) Exec(ctx context.Context, r *taskAPI.ExecProcessRequest) (*ptypes.Empty, error) {
	if r.ExecID == "" {
		return nil, toGRPC(fmt.Errorf("empty exec id: %w", errdefs.ErrInvalidArgument))
	}
	if r.Spec == nil {
		return nil, toGRPC(fmt.Errorf("exec %s has no process spec: %w", r.ExecID, errdefs.ErrInvalidArgument))
	}
	var spec specs.Process
	if err := json.Unmarshal(r.Spec.GetValue(), &spec); err != nil {
		return nil, toGRPC(fmt.Errorf("exec %s process spec: %v: %w", r.ExecID, err, errdefs.ErrInvalidArgument))
	}
	if spec.Terminal != r.Terminal {
		return nil, toGRPC(fmt.Errorf("exec %s: process.terminal is %v but its stdio is for terminal=%v: %w", r.ExecID, spec.Terminal, r.Terminal, errdefs.ErrInvalidArgument))
	}
	ns, _ := namespaces.Namespace(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[r.ID]
	if !ok {
		return nil, toGRPC(fmt.Errorf("container %q: %w", r.ID, errdefs.ErrNotFound))
	}
	if _, dup := c.execs[r.ExecID]; dup {
		return nil, toGRPC(fmt.Errorf("exec %q in container %q: %w", r.ExecID, r.ID, errdefs.ErrAlreadyExists))
	}
	if st := c.init.Status(); st != process.Running {
		return nil, toGRPC(fmt.Errorf("container %s is %s: %w", r.ID, st, errdefs.ErrFailedPrecondition))
	}
	e, err := process.NewExec(c.init, r.ExecID, ns, &spec, stdio.Config{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal}, reaper.Default)
	if err != nil {
		return nil, toGRPC(err)
	}
	c.execs[r.ExecID] = &execEntry{proc: e}
	s.send(&eventstypes.TaskExecAdded{ContainerID: r.ID, ExecID: r.ExecID})
	return empty, nil
}

func (s *service) startExec(ctx context.Context, r *taskAPI.StartRequest) (*taskAPI.StartResponse, error) {
	c, e, err := s.getExec(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	since := time.Now()
	if err := e.proc.Start(ctx); err != nil {
		return nil, toGRPC(refusal(err))
	}
	t := &tracked{containerID: r.ID, id: r.ExecID, pid: e.proc.Pid(), target: e.proc, c: c}
	s.mu.Lock()
	e.track = t
	s.mu.Unlock()
	s.register(t, since)
	s.published(t, &eventstypes.TaskExecStarted{ContainerID: r.ID, ExecID: r.ExecID, Pid: uint32(e.proc.Pid())})
	return &taskAPI.StartResponse{Pid: uint32(e.proc.Pid())}, nil
}

func (s *service) deleteExec(r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	c, e, err := s.getExec(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	if err := e.proc.Delete(); err != nil {
		return nil, toGRPC(err)
	}
	code, at := e.proc.Exit()
	s.mu.Lock()
	delete(c.execs, r.ExecID)
	s.mu.Unlock()
	return &taskAPI.DeleteResponse{Pid: uint32(e.proc.Pid()), ExitStatus: uint32(code), ExitedAt: protobuf.ToTimestamp(at)}, nil
}
