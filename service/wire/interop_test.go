package wire

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func officialCall(ctx context.Context, c *ttrpc.Client, service, method, id string) (*taskv3.StartResponse, error) {
	var resp taskv3.StartResponse
	err := c.Call(ctx, service, method, &taskv3.StartRequest{ID: id}, &resp)
	return &resp, err
}

// TestOfficialClientOurServer: containerd's side is the ttrpc library, so
// everything it can observe must match what its own server gives.
func TestOfficialClientOurServer(t *testing.T) {
	ctx := context.Background()

	t.Run("Success", func(t *testing.T) {
		path, _, _ := startOurServer(t, newBlockProbe())
		resp, err := officialCall(ctx, officialClient(t, path), testService, "Start", "1234")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Pid != 1234 {
			t.Fatalf("pid %d, want 1234", resp.Pid)
		}
	})

	t.Run("LargeMessages", func(t *testing.T) {
		path, _, _ := startOurServer(t, newBlockProbe())
		c := officialClient(t, path)
		for _, n := range echoSizes {
			id := strings.Repeat("x", n-1) + "y"
			var resp taskv3.StartRequest
			if err := c.Call(ctx, testService, "Echo", &taskv3.StartRequest{ID: id}, &resp); err != nil {
				t.Fatalf("%d bytes: %v", n, err)
			}
			if resp.ID != id {
				t.Fatalf("%d bytes: got %d bytes back", n, len(resp.ID))
			}
		}
	})

	t.Run("ErrorKinds", func(t *testing.T) {
		path, _, _ := startOurServer(t, newBlockProbe())
		c := officialClient(t, path)
		for _, k := range errorKinds() {
			_, err := officialCall(ctx, c, testService, "Fail", k.name)
			if err == nil {
				t.Errorf("%s: no error", k.name)
				continue
			}
			st, ok := status.FromError(err)
			if !ok {
				t.Errorf("%s: %v is not a status", k.name, err)
				continue
			}
			if st.Code() != k.code || st.Message() != k.err.Error() {
				t.Errorf("%s: got %v %q, want %v %q", k.name, st.Code(), st.Message(), k.code, k.err.Error())
			}
			native := errgrpc.ToNative(err)
			if !k.is(native) {
				t.Errorf("%s: errgrpc.ToNative gave %v, not of the kind", k.name, native)
			}
			if !strings.Contains(native.Error(), k.err.Error()) {
				t.Errorf("%s: native error %q lacks %q", k.name, native.Error(), k.err.Error())
			}
		}
	})

	t.Run("UnknownServiceAndMethod", func(t *testing.T) {
		ours := officialClient(t, func() string { p, _, _ := startOurServer(t, newBlockProbe()); return p }())
		theirs := officialClient(t, startOfficialServer(t, newBlockProbe()))
		for _, tc := range []struct{ service, method string }{
			{"no.such.Service", "Start"},
			{testService, "NoSuchMethod"},
		} {
			_, errOurs := officialCall(ctx, ours, tc.service, tc.method, "1")
			_, errTheirs := officialCall(ctx, theirs, tc.service, tc.method, "1")
			stOurs, stTheirs := status.Convert(errOurs), status.Convert(errTheirs)
			if stTheirs.Code() != codes.Unimplemented {
				t.Fatalf("official server answered %v", errTheirs)
			}
			if stOurs.Code() != stTheirs.Code() || stOurs.Message() != stTheirs.Message() {
				t.Errorf("%s/%s: ours %v %q, official %v %q", tc.service, tc.method,
					stOurs.Code(), stOurs.Message(), stTheirs.Code(), stTheirs.Message())
			}
		}
	})

	t.Run("DeadlineInHandler", func(t *testing.T) {
		p := newBlockProbe()
		path, _, _ := startOurServer(t, p)
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := officialCall(cctx, officialClient(t, path), testService, "Block", "")
		if !errors.Is(err, context.DeadlineExceeded) && status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("got %v, want deadline exceeded", err)
		}
		if !<-p.hadDL {
			t.Error("handler ctx had no deadline")
		}
		select {
		case err := <-p.ctxErr:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("handler ctx ended with %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("handler ctx never ended")
		}
	})

	t.Run("Panic", func(t *testing.T) {
		path, _, _ := startOurServer(t, newBlockProbe())
		c := officialClient(t, path)
		_, err := officialCall(ctx, c, testService, "Panic", "")
		if status.Code(err) != codes.Internal {
			t.Fatalf("got %v, want Internal", err)
		}
		if !errdefs.IsInternal(errgrpc.ToNative(err)) {
			t.Errorf("ToNative(%v) is not internal", err)
		}
		if _, err := officialCall(ctx, c, testService, "Start", "7"); err != nil {
			t.Fatalf("server unusable after a panic: %v", err)
		}
	})

	t.Run("Concurrent100", func(t *testing.T) {
		path, _, _ := startOurServer(t, newBlockProbe())
		c := officialClient(t, path)
		concurrently(t, 100, func(i int) error {
			resp, err := officialCall(ctx, c, testService, "Start", strconv.Itoa(i))
			if err != nil {
				return err
			}
			if resp.Pid != uint32(i) {
				return errors.New("got the answer of another call: pid " + strconv.Itoa(int(resp.Pid)))
			}
			return nil
		})
	})

	t.Run("StreamingRefused", func(t *testing.T) {
		path, _, _ := startOurServer(t, newBlockProbe())
		c := officialClient(t, path)
		for _, desc := range []*ttrpc.StreamDesc{{StreamingClient: true}, {StreamingServer: true}} {
			var req any
			if !desc.StreamingClient {
				req = &taskv3.StartRequest{ID: "1"}
			}
			s, err := c.NewStream(ctx, desc, testService, "Start", req)
			if err != nil {
				t.Fatal(err)
			}
			var resp taskv3.StartResponse
			if err := s.RecvMsg(&resp); status.Code(err) != codes.Unimplemented {
				t.Errorf("%+v: got %v, want Unimplemented", *desc, err)
			}
		}
		if _, err := officialCall(ctx, c, testService, "Start", "3"); err != nil {
			t.Fatalf("unary call after a refused stream: %v", err)
		}
	})
}

func TestOurClientOfficialServer(t *testing.T) {
	ourClientSuite(t, func(t *testing.T, p *blockProbe) string { return startOfficialServer(t, p) })
}

func TestOurClientOurServer(t *testing.T) {
	ourClientSuite(t, func(t *testing.T, p *blockProbe) string {
		path, _, _ := startOurServer(t, p)
		return path
	})
}

func ourClientSuite(t *testing.T, start func(*testing.T, *blockProbe) string) {
	ctx := context.Background()

	t.Run("Success", func(t *testing.T) {
		c := ourClient(t, start(t, newBlockProbe()))
		b, err := c.Call(ctx, testService, "Start", marshalStart(t, "99"))
		if err != nil {
			t.Fatal(err)
		}
		var resp taskv3.StartResponse
		if err := proto.Unmarshal(b, &resp); err != nil || resp.Pid != 99 {
			t.Fatalf("got %v %v, want pid 99", &resp, err)
		}
	})

	t.Run("LargeMessages", func(t *testing.T) {
		c := ourClient(t, start(t, newBlockProbe()))
		for _, n := range echoSizes {
			id := strings.Repeat("x", n-1) + "y"
			b, err := c.Call(ctx, testService, "Echo", marshalStart(t, id))
			if err != nil {
				t.Fatalf("%d bytes: %v", n, err)
			}
			var resp taskv3.StartRequest
			if err := proto.Unmarshal(b, &resp); err != nil || resp.ID != id {
				t.Fatalf("%d bytes: got %d bytes back, %v", n, len(resp.ID), err)
			}
		}
	})

	t.Run("ErrorKinds", func(t *testing.T) {
		c := ourClient(t, start(t, newBlockProbe()))
		for _, k := range errorKinds() {
			_, err := c.Call(ctx, testService, "Fail", marshalStart(t, k.name))
			if err == nil {
				t.Errorf("%s: no error", k.name)
				continue
			}
			if !k.is(err) {
				t.Errorf("%s: %v is not of the kind", k.name, err)
			}
			if err.Error() != k.err.Error() {
				t.Errorf("%s: message %q, want %q", k.name, err.Error(), k.err.Error())
			}
		}
	})

	t.Run("UnknownMethod", func(t *testing.T) {
		c := ourClient(t, start(t, newBlockProbe()))
		_, err := c.Call(ctx, testService, "NoSuchMethod", nil)
		if !errdefs.IsNotImplemented(err) || err.Error() != "method NoSuchMethod" {
			t.Errorf("unknown method: %v", err)
		}
		_, err = c.Call(ctx, "no.such.Service", "Start", nil)
		if !errdefs.IsNotImplemented(err) || err.Error() != "service no.such.Service" {
			t.Errorf("unknown service: %v", err)
		}
	})

	t.Run("Deadline", func(t *testing.T) {
		p := newBlockProbe()
		c := ourClient(t, start(t, p))
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := c.Call(cctx, testService, "Block", nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
		if !<-p.hadDL {
			t.Error("timeout_nano was not sent: handler ctx had no deadline")
		}
		if err := <-p.ctxErr; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("handler ctx ended with %v", err)
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		p := newBlockProbe()
		defer close(p.release)
		c := ourClient(t, start(t, p))
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			<-p.started
			cancel()
		}()
		begin := time.Now()
		_, err := c.Call(cctx, testService, "Block", nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want Canceled", err)
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Errorf("Call took %v to notice the cancel", d)
		}
		// The connection stays usable; the late answer is dropped.
		if _, err := c.Call(ctx, testService, "Start", marshalStart(t, "5")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Concurrent100", func(t *testing.T) {
		c := ourClient(t, start(t, newBlockProbe()))
		concurrently(t, 100, func(i int) error {
			b, err := c.Call(ctx, testService, "Start", marshalStart(t, strconv.Itoa(i)))
			if err != nil {
				return err
			}
			var resp taskv3.StartResponse
			if err := proto.Unmarshal(b, &resp); err != nil {
				return err
			}
			if resp.Pid != uint32(i) {
				return errors.New("got the answer of another call: pid " + strconv.Itoa(int(resp.Pid)))
			}
			return nil
		})
	})

	t.Run("ClosePending", func(t *testing.T) {
		p := newBlockProbe()
		defer close(p.release)
		path := start(t, p)
		c := NewClient(dial(t, path))
		const pending = 3
		errs := make(chan error, pending)
		for range pending {
			go func() {
				_, err := c.Call(ctx, testService, "Block", nil)
				errs <- err
			}()
		}
		for range pending {
			<-p.started
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		for range pending {
			select {
			case err := <-errs:
				if !errors.Is(err, ErrClosed) {
					t.Errorf("pending call got %v, want ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("pending call not failed by Close")
			}
		}
		select {
		case <-c.readerDone:
		default:
			t.Error("reader goroutine still running after Close")
		}
		if _, err := c.Call(ctx, testService, "Start", marshalStart(t, "1")); !errors.Is(err, ErrClosed) {
			t.Errorf("Call after Close: %v, want ErrClosed", err)
		}
	})
}

func concurrently(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := fn(i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
