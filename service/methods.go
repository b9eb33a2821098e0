package service

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"

	taskapi "github.com/raind/raind/service/taskv3"
)

// The service is containerd's task API v3, served over ttrpc.
var _ taskapi.TTRPCTaskService = (*service)(nil)

// newServer serves the task API to the socket's owner only, as
// containerd's own shims do: containerd runs as the shim's user, and no
// other user may drive the containers.
func (s *service) newServer() (*ttrpc.Server, error) {
	server, err := ttrpc.NewServer(
		ttrpc.WithServerHandshaker(ttrpc.UnixSocketRequireSameUser()),
		ttrpc.WithUnaryServerInterceptor(s.intercept),
	)
	if err != nil {
		return nil, fmt.Errorf("ttrpc server: %w", err)
	}
	taskapi.RegisterTTRPCTaskService(server, s)
	return server, nil
}

// intercept wraps every task method: it notes activity before, so the
// collector is on while the request allocates, and after, so the quiet
// period starts when it is done (see serveDaemon); a request that does not
// decode is InvalidArgument; and the errdefs kind of an error travels as
// its status code, which containerd's client turns back into the kind.
func (s *service) intercept(ctx context.Context, unmarshal ttrpc.Unmarshaler, info *ttrpc.UnaryServerInfo, method ttrpc.Method) (any, error) {
	s.touch()
	defer s.touch()
	decode := func(v any) error {
		if err := unmarshal(v); err != nil {
			return fmt.Errorf("decode %s request: %v: %w", info.FullMethod, err, errdefs.ErrInvalidArgument)
		}
		return nil
	}
	resp, err := method(ctx, decode)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return resp, nil
}
