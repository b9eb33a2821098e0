package service

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/raind/raind/service/taskpb"
	"github.com/raind/raind/service/wire"
)

// message is a taskpb request type: a pointer that can decode itself.
type message[T any] interface {
	*T
	taskpb.Message
}

// unary adapts a typed task method to a wire handler.
func unary[Req any, PReq message[Req], Resp taskpb.Message](f func(context.Context, PReq) (Resp, error)) wire.Handler {
	return func(ctx context.Context, b []byte) ([]byte, error) {
		req := PReq(new(Req))
		if err := req.Unmarshal(b); err != nil {
			return nil, fmt.Errorf("decode request: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		resp, err := f(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp.Marshal(), nil
	}
}

// methods is the containerd.task.v3.Task service.
func (s *service) methods() map[string]wire.Handler {
	m := map[string]wire.Handler{
		"State":      unary(s.State),
		"Create":     unary(s.Create),
		"Start":      unary(s.Start),
		"Delete":     unary(s.Delete),
		"Pids":       unary(s.Pids),
		"Pause":      unary(s.Pause),
		"Resume":     unary(s.Resume),
		"Checkpoint": unary(s.Checkpoint),
		"Kill":       unary(s.Kill),
		"Exec":       unary(s.Exec),
		"ResizePty":  unary(s.ResizePty),
		"CloseIO":    unary(s.CloseIO),
		"Update":     unary(s.Update),
		"Wait":       unary(s.Wait),
		"Stats":      unary(s.Stats),
		"Connect":    unary(s.Connect),
		"Shutdown":   unary(s.Shutdown),
	}
	for name, h := range m {
		m[name] = func(ctx context.Context, b []byte) ([]byte, error) {
			// Before, so the collector is on while the request allocates;
			// after, so the quiet period starts when it is done.
			s.touch()
			defer s.touch()
			return h(ctx, b)
		}
	}
	return m
}
