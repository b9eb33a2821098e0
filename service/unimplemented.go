package service

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"google.golang.org/protobuf/types/known/emptypb"

	taskapi "github.com/raind/raind/service/taskv3"
)

func notImplemented(what string) error {
	return fmt.Errorf("%s: %w", what, errdefs.ErrNotImplemented)
}

// Checkpoint is not implemented.
func (s *service) Checkpoint(ctx context.Context, r *taskapi.CheckpointTaskRequest) (*emptypb.Empty, error) {
	return nil, notImplemented("checkpoint")
}
