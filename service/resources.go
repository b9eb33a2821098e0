package service

import (
	"context"
	"encoding/json"
	"fmt"

	eventsapi "github.com/containerd/containerd/api/events"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/emptypb"

	taskapi "github.com/raind/raind/service/taskv3"
)

// Stats returns the container's cgroup metrics, wrapped in an Any with
// their cgroups/v3 type URL (io.containerd.cgroups.v1.Metrics or
// io.containerd.cgroups.v2.Metrics), which containerd, CRI and nerdctl
// decode.
func (s *service) Stats(ctx context.Context, r *taskapi.StatsRequest) (*taskapi.StatsResponse, error) {
	c, err := s.get(r.Id)
	if err != nil {
		return nil, err
	}
	m, err := c.init.Stats()
	if err != nil {
		return nil, err
	}
	a, err := typeurl.MarshalAnyToProto(m)
	if err != nil {
		return nil, fmt.Errorf("stats of %s: %v: %w", r.Id, err, errdefs.ErrInternal)
	}
	return &taskapi.StatsResponse{Stats: a}, nil
}

// resourcesTypeURL is the type URL containerd registers for
// specs.LinuxResources (core/runtime/typeurl.go).
const resourcesTypeURL = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"

// Update applies the linux resources in the request to the container's
// cgroup. A value the kernel refuses (a memory limit below usage, say)
// fails with the kernel's reason.
func (s *service) Update(ctx context.Context, r *taskapi.UpdateTaskRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.Id)
	if err != nil {
		return nil, err
	}
	if r.Resources == nil {
		return nil, fmt.Errorf("update %s: no resources: %w", r.Id, errdefs.ErrInvalidArgument)
	}
	// containerd's client sends the runtime-spec struct as JSON under
	// the type URL it registers for it; so does CRI.
	if r.Resources.TypeUrl != resourcesTypeURL {
		return nil, fmt.Errorf("update %s: resources of type %q, want %s: %w", r.Id, r.Resources.TypeUrl, resourcesTypeURL, errdefs.ErrInvalidArgument)
	}
	var res specs.LinuxResources
	if err := json.Unmarshal(r.Resources.Value, &res); err != nil {
		return nil, fmt.Errorf("update %s: resources: %v: %w", r.Id, err, errdefs.ErrInvalidArgument)
	}
	if err := c.init.Update(&res); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Pause freezes the container and publishes TaskPaused.
func (s *service) Pause(ctx context.Context, r *taskapi.PauseRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.Id)
	if err != nil {
		return nil, err
	}
	if err := c.init.Pause(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.send(&eventsapi.TaskPaused{ContainerID: r.Id})
	s.mu.Unlock()
	return &emptypb.Empty{}, nil
}

// Resume thaws the container and publishes TaskResumed.
func (s *service) Resume(ctx context.Context, r *taskapi.ResumeRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.Id)
	if err != nil {
		return nil, err
	}
	if err := c.init.Resume(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.send(&eventsapi.TaskResumed{ContainerID: r.Id})
	s.mu.Unlock()
	return &emptypb.Empty{}, nil
}
