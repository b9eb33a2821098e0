package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

const testService = "containerd.task.v3.Task"

// errorKind is one errdefs kind and how it must look on the wire.
type errorKind struct {
	name string
	err  error // what the handler returns
	code codes.Code
	is   func(error) bool
}

func errorKinds() []errorKind {
	wrap := func(kind error) error { return fmt.Errorf("container c1: %w", kind) }
	return []errorKind{
		{"NotFound", wrap(errdefs.ErrNotFound), codes.NotFound, errdefs.IsNotFound},
		{"AlreadyExists", wrap(errdefs.ErrAlreadyExists), codes.AlreadyExists, errdefs.IsAlreadyExists},
		{"InvalidArgument", wrap(errdefs.ErrInvalidArgument), codes.InvalidArgument, errdefs.IsInvalidArgument},
		{"FailedPrecondition", wrap(errdefs.ErrFailedPrecondition), codes.FailedPrecondition, errdefs.IsFailedPrecondition},
		{"Conflict", wrap(errdefs.ErrConflict), codes.FailedPrecondition, errdefs.IsConflict},
		{"NotImplemented", wrap(errdefs.ErrNotImplemented), codes.Unimplemented, errdefs.IsNotImplemented},
		{"Unavailable", wrap(errdefs.ErrUnavailable), codes.Unavailable, errdefs.IsUnavailable},
		{"PermissionDenied", wrap(errdefs.ErrPermissionDenied), codes.PermissionDenied, errdefs.IsPermissionDenied},
		{"ResourceExhausted", wrap(errdefs.ErrResourceExhausted), codes.ResourceExhausted, errdefs.IsResourceExhausted},
		{"Aborted", wrap(errdefs.ErrAborted), codes.Aborted, errdefs.IsAborted},
		{"OutOfRange", wrap(errdefs.ErrOutOfRange), codes.OutOfRange, errdefs.IsOutOfRange},
		{"DataLoss", wrap(errdefs.ErrDataLoss), codes.DataLoss, errdefs.IsDataLoss},
		{"Unauthenticated", wrap(errdefs.ErrUnauthenticated), codes.Unauthenticated, errdefs.IsUnauthorized},
		{"Canceled", wrap(context.Canceled), codes.Canceled, errdefs.IsCanceled},
		{"DeadlineExceeded", wrap(context.DeadlineExceeded), codes.DeadlineExceeded, errdefs.IsDeadlineExceeded},
		{"Internal", wrap(errdefs.ErrInternal), codes.Internal, errdefs.IsInternal},
		{"Unknown", errors.New("container c1: something odd"), codes.Unknown, errdefs.IsUnknown},
	}
}

func findKind(name string) (errorKind, bool) {
	for _, k := range errorKinds() {
		if k.name == name {
			return k, true
		}
	}
	return errorKind{}, false
}

// blockProbe lets a test hold a handler and see what its ctx did.
type blockProbe struct {
	started chan struct{}
	release chan struct{}
	ctxErr  chan error // what the handler saw when it stopped waiting
	hadDL   chan bool
}

func newBlockProbe() *blockProbe {
	return &blockProbe{
		started: make(chan struct{}, 100),
		release: make(chan struct{}),
		ctxErr:  make(chan error, 100),
		hadDL:   make(chan bool, 100),
	}
}

func (p *blockProbe) wait(ctx context.Context) error {
	_, ok := ctx.Deadline()
	p.hadDL <- ok
	p.started <- struct{}{}
	select {
	case <-ctx.Done():
		p.ctxErr <- ctx.Err()
		return ctx.Err()
	case <-p.release:
		p.ctxErr <- nil
		return nil
	}
}

// startPid answers StartRequest{ID: "<n>"} with StartResponse{Pid: n}, so
// concurrent callers can check they got their own answer.
func startPid(req *taskv3.StartRequest) (*taskv3.StartResponse, error) {
	n, err := strconv.ParseUint(req.ID, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("bad id %q: %w", req.ID, errdefs.ErrInvalidArgument)
	}
	return &taskv3.StartResponse{Pid: uint32(n)}, nil
}

// ourMethods is the test service for our server.
func ourMethods(p *blockProbe) map[string]Handler {
	return map[string]Handler{
		"Start": func(ctx context.Context, b []byte) ([]byte, error) {
			var req taskv3.StartRequest
			if err := proto.Unmarshal(b, &req); err != nil {
				return nil, err
			}
			resp, err := startPid(&req)
			if err != nil {
				return nil, err
			}
			return proto.Marshal(resp)
		},
		"Fail": func(ctx context.Context, b []byte) ([]byte, error) {
			var req taskv3.StartRequest
			if err := proto.Unmarshal(b, &req); err != nil {
				return nil, err
			}
			k, ok := findKind(req.ID)
			if !ok {
				return nil, errors.New("no such kind")
			}
			return nil, k.err
		},
		"Block": func(ctx context.Context, b []byte) ([]byte, error) {
			if err := p.wait(ctx); err != nil {
				return nil, err
			}
			return proto.Marshal(&taskv3.StartResponse{Pid: 42})
		},
		"Panic": func(ctx context.Context, b []byte) ([]byte, error) {
			panic("boom")
		},
		// Echo answers with its request, for messages larger than the
		// read buffer in both directions.
		"Echo": func(ctx context.Context, b []byte) ([]byte, error) {
			var req taskv3.StartRequest
			if err := proto.Unmarshal(b, &req); err != nil {
				return nil, err
			}
			return proto.Marshal(&req)
		},
	}
}

// officialMethods is the same service for ttrpc's server, mapping errors
// the way containerd's shims do.
func officialMethods(p *blockProbe) map[string]ttrpc.Method {
	return map[string]ttrpc.Method{
		"Start": func(ctx context.Context, unmarshal func(any) error) (any, error) {
			var req taskv3.StartRequest
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			resp, err := startPid(&req)
			return resp, errgrpc.ToGRPC(err)
		},
		"Fail": func(ctx context.Context, unmarshal func(any) error) (any, error) {
			var req taskv3.StartRequest
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			k, ok := findKind(req.ID)
			if !ok {
				return nil, errors.New("no such kind")
			}
			return nil, errgrpc.ToGRPC(k.err)
		},
		"Block": func(ctx context.Context, unmarshal func(any) error) (any, error) {
			if err := p.wait(ctx); err != nil {
				return nil, errgrpc.ToGRPC(err)
			}
			return &taskv3.StartResponse{Pid: 42}, nil
		},
		"Echo": func(ctx context.Context, unmarshal func(any) error) (any, error) {
			var req taskv3.StartRequest
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			return &req, nil
		},
	}
}

// echoSizes straddle a connection's read buffer (bufio's default 4 KiB)
// and reach well past it.
var echoSizes = []int{1, 4096 - 20, 4096, 4097, 64 << 10, 1 << 20}

func socketPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "s")
}

// startOurServer serves ourMethods until the test ends; served waits for
// Serve's result.
func startOurServer(t *testing.T, p *blockProbe) (path string, srv *Server, served func() error) {
	t.Helper()
	path = socketPath(t)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv = NewServer()
	srv.Register(testService, ourMethods(p))
	result := make(chan error, 1)
	go func() { result <- srv.Serve(context.Background(), l) }()
	served = sync.OnceValue(func() error {
		select {
		case err := <-result:
			return err
		case <-time.After(5 * time.Second):
			return errors.New("Serve did not return")
		}
	})
	t.Cleanup(func() {
		srv.Close()
		if err := served(); !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return path, srv, served
}

func startOfficialServer(t *testing.T, p *blockProbe) string {
	t.Helper()
	path := socketPath(t)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ttrpc.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	srv.RegisterService(testService, &ttrpc.ServiceDesc{Methods: officialMethods(p)})
	go srv.Serve(context.Background(), l)
	t.Cleanup(func() { srv.Close() })
	return path
}

func dial(t *testing.T, path string) net.Conn {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func officialClient(t *testing.T, path string) *ttrpc.Client {
	t.Helper()
	c := ttrpc.NewClient(dial(t, path))
	t.Cleanup(func() { c.Close() })
	return c
}

func ourClient(t *testing.T, path string) *Client {
	t.Helper()
	c := NewClient(dial(t, path))
	t.Cleanup(func() { c.Close() })
	return c
}

func marshalStart(t *testing.T, id string) []byte {
	t.Helper()
	b, err := proto.Marshal(&taskv3.StartRequest{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitGoroutines polls until the goroutine count is back to base, since
// goroutines end a little after the calls that stop them return.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want at most %d:\n%s", n, base, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
