package wire

import (
	"bufio"
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/errdefs"
	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// rawConn speaks frames directly, to send what well-behaved clients never
// do. Responses are decoded with protobuf's own code, which also checks
// that our encoding is what protobuf expects.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func newRawConn(t *testing.T, path string) *rawConn {
	conn := dial(t, path)
	t.Cleanup(func() { conn.Close() })
	return &rawConn{t: t, conn: conn, br: bufio.NewReader(conn)}
}

func (r *rawConn) send(id uint32, typ messageType, flags uint8, payload []byte) {
	r.t.Helper()
	if _, err := r.conn.Write(appendFrame(nil, id, typ, flags, payload)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) request(id uint32, flags uint8, service, method string, payload []byte) {
	r.t.Helper()
	b, err := proto.Marshal(&ttrpc.Request{Service: service, Method: method, Payload: payload})
	if err != nil {
		r.t.Fatal(err)
	}
	r.send(id, typeRequest, flags, b)
}

type observed struct {
	id   uint32
	typ  messageType
	code codes.Code
	msg  string
	pid  uint32
}

func (r *rawConn) recv() observed {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, p, err := readFrame(r.br)
	if err != nil {
		r.t.Fatalf("reading response: %v", err)
	}
	var resp ttrpc.Response
	if err := proto.Unmarshal(p, &resp); err != nil {
		r.t.Fatalf("protobuf cannot decode our response: %v", err)
	}
	o := observed{id: h.streamID, typ: h.typ, code: codes.Code(resp.Status.GetCode()), msg: resp.Status.GetMessage()}
	if o.code == codes.OK {
		var sr taskv3.StartResponse
		if err := proto.Unmarshal(resp.Payload, &sr); err != nil {
			r.t.Fatal(err)
		}
		o.pid = sr.Pid
	}
	return o
}

// TestProtocolErrorsMatchOfficial sends malformed traffic to both servers
// and expects the same answers.
func TestProtocolErrorsMatchOfficial(t *testing.T) {
	start := marshalStart(t, "11")
	scenarios := []struct {
		name    string
		run     func(r *rawConn) []observed
		msgLike bool // compare messages only by their prefix
	}{
		{"EvenStreamID", func(r *rawConn) []observed {
			r.request(2, 0, testService, "Start", start)
			return []observed{r.recv()}
		}, false},
		{"ReusedStreamID", func(r *rawConn) []observed {
			r.request(3, 0, testService, "Start", start)
			first := r.recv()
			r.request(3, 0, testService, "Start", start)
			r.request(1, 0, testService, "Start", start)
			return []observed{first, r.recv(), r.recv()}
		}, false},
		{"DataFrame", func(r *rawConn) []observed {
			r.send(5, typeData, 0, []byte{1, 2, 3})
			return []observed{r.recv()}
		}, false},
		{"GarbageRequest", func(r *rawConn) []observed {
			r.send(1, typeRequest, 0, []byte{0xff, 0xff, 0xff})
			return []observed{r.recv()}
		}, true},
		{"InvalidUTF8Method", func(r *rawConn) []observed {
			r.send(1, typeRequest, 0, []byte{0x12, 0x02, 0xc3, 0x28})
			return []observed{r.recv()}
		}, true},
		{"UnknownTypeIgnored", func(r *rawConn) []observed {
			r.send(7, messageType(9), 0, []byte{1})
			r.request(9, 0, testService, "Start", start)
			return []observed{r.recv()}
		}, false},
		{"OversizedFrame", func(r *rawConn) []observed {
			go func() {
				// The payload is skipped while it arrives.
				r.conn.Write(appendFrame(nil, 1, typeRequest, 0, make([]byte, maxMessageLen+1)))
			}()
			first := r.recv()
			r.request(3, 0, testService, "Start", start)
			return []observed{first, r.recv()}
		}, false},
	}
	ourPath, _, _ := startOurServer(t, newBlockProbe())
	officialPath := startOfficialServer(t, newBlockProbe())
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			ours := sc.run(newRawConn(t, ourPath))
			theirs := sc.run(newRawConn(t, officialPath))
			if len(ours) != len(theirs) {
				t.Fatalf("ours %+v, official %+v", ours, theirs)
			}
			for i := range ours {
				o, th := ours[i], theirs[i]
				if sc.msgLike {
					prefix, _, _ := strings.Cut(th.msg, ":")
					if !strings.HasPrefix(o.msg, prefix) {
						t.Errorf("message %q, official %q", o.msg, th.msg)
					}
					o.msg, th.msg = "", ""
				}
				if o != th {
					t.Errorf("answer %d: ours %+v, official %+v", i, o, th)
				}
			}
		})
	}
}

func TestStreamingFlagsRefused(t *testing.T) {
	path, _, _ := startOurServer(t, newBlockProbe())
	r := newRawConn(t, path)
	start := marshalStart(t, "8")
	r.request(1, flagRemoteOpen, testService, "Start", nil)
	r.request(3, flagRemoteClosed, testService, "Start", start)
	for _, id := range []uint32{1, 3} {
		if o := r.recv(); o.id != id || o.code != codes.Unimplemented {
			t.Errorf("got %+v, want Unimplemented on stream %d", o, id)
		}
	}
	// Data the client goes on streaming is answered, not choked on.
	r.send(1, typeData, 0, []byte{1})
	if o := r.recv(); o.code != codes.InvalidArgument {
		t.Errorf("data on a refused stream: %+v", o)
	}
	r.request(5, 0, testService, "Start", start)
	if o := r.recv(); o.id != 5 || o.code != codes.OK || o.pid != 8 {
		t.Errorf("unary call after refused streams: %+v", o)
	}
}

// TestHugeFrameHeader claims a 4 GiB payload and hangs up: the server must
// neither buffer it nor fall over.
func TestHugeFrameHeader(t *testing.T) {
	base := runtime.NumGoroutine()
	path, srv, _ := startOurServer(t, newBlockProbe())

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	conn := dial(t, path)
	if _, err := conn.Write([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 1, 0, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	c := ourClient(t, path)
	if _, err := c.Call(context.Background(), testService, "Start", marshalStart(t, "1")); err != nil {
		t.Fatalf("server unusable after a huge frame: %v", err)
	}
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 32<<20 {
		t.Errorf("allocated %d bytes around a huge frame header", grown)
	}

	c.Close()
	srv.Close()
	waitGoroutines(t, base)
}

func TestReadFrameOversizedDoesNotAllocate(t *testing.T) {
	in := append([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 1, 0}, make([]byte, 1000)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := readFrame(strings.NewReader(string(in)))
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("no error for a truncated 4 GiB frame")
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Errorf("allocated %d bytes", grown)
	}
}

func TestShutdown(t *testing.T) {
	ctx := context.Background()
	base := runtime.NumGoroutine()
	p := newBlockProbe()
	path, srv, served := startOurServer(t, p)
	c := NewClient(dial(t, path))
	defer c.Close()
	idle := NewClient(dial(t, path)) // a connection with nothing in flight
	defer idle.Close()
	if _, err := idle.Call(ctx, testService, "Start", marshalStart(t, "1")); err != nil {
		t.Fatal(err)
	}

	type result struct {
		b   []byte
		err error
	}
	inflight := make(chan result, 1)
	go func() {
		b, err := c.Call(ctx, testService, "Block", nil)
		inflight <- result{b, err}
	}()
	<-p.started

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()

	if err := served(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	if conn, err := net.Dial("unix", path); err == nil {
		conn.Close()
		t.Fatal("new connection accepted during Shutdown")
	}
	// The idle connection is closed at once. Shutdown closes it from its
	// own goroutine, so a call can still get in first; it must then be
	// refused like any other new call.
	if _, err := idle.Call(ctx, testService, "Start", marshalStart(t, "1")); !errors.Is(err, ErrClosed) && !errdefs.IsUnavailable(err) {
		t.Errorf("call on idle connection during Shutdown: %v, want ErrClosed or Unavailable", err)
	}
	// New calls on the busy connection are refused, not queued.
	if _, err := c.Call(ctx, testService, "Start", marshalStart(t, "2")); !errdefs.IsUnavailable(err) {
		t.Errorf("new call during Shutdown: %v, want Unavailable", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a call in flight", err)
	case <-time.After(100 * time.Millisecond):
	}

	close(p.release)
	res := <-inflight
	if res.err != nil {
		t.Fatalf("in-flight call: %v", res.err)
	}
	var resp taskv3.StartResponse
	if err := proto.Unmarshal(res.b, &resp); err != nil || resp.Pid != 42 {
		t.Fatalf("in-flight call got %v %v", &resp, err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	// The server closed the connection after the last response.
	if _, err := c.Call(ctx, testService, "Start", marshalStart(t, "3")); !errors.Is(err, ErrClosed) {
		t.Errorf("call after Shutdown: %v, want ErrClosed", err)
	}
	if err := srv.Serve(ctx, mustListen(t)); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	c.Close()
	idle.Close()
	waitGoroutines(t, base)
}

func TestShutdownTimeoutThenClose(t *testing.T) {
	ctx := context.Background()
	base := runtime.NumGoroutine()
	p := newBlockProbe()
	path, srv, _ := startOurServer(t, p)
	c := NewClient(dial(t, path))
	defer c.Close()
	inflight := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, testService, "Block", nil)
		inflight <- err
	}()
	<-p.started

	sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want DeadlineExceeded", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-inflight; !errors.Is(err, ErrClosed) {
		t.Errorf("in-flight call after Close: %v, want ErrClosed", err)
	}
	if err := <-p.ctxErr; !errors.Is(err, context.Canceled) {
		t.Errorf("handler ctx after Close: %v, want Canceled", err)
	}
	c.Close()
	waitGoroutines(t, base)
}

// TestServeContext: handlers see values and cancellation of Serve's ctx.
func TestServeContext(t *testing.T) {
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	defer cancel()
	l := mustListen(t)
	srv := NewServer()
	defer srv.Close()
	got := make(chan any, 1)
	srv.Register("s", map[string]Handler{
		"m": func(ctx context.Context, _ []byte) ([]byte, error) {
			got <- ctx.Value(key{})
			return []byte("ok"), nil
		},
	})
	go srv.Serve(ctx, l)
	c := NewClient(dial(t, l.Addr().String()))
	defer c.Close()
	b, err := c.Call(context.Background(), "s", "m", nil)
	if err != nil || string(b) != "ok" {
		t.Fatalf("got %q %v", b, err)
	}
	if v := <-got; v != "v" {
		t.Errorf("handler ctx value %v", v)
	}
	// Registering while serving is allowed.
	srv.Register("s", map[string]Handler{"n": func(context.Context, []byte) ([]byte, error) { return nil, nil }})
	if _, err := c.Call(context.Background(), "s", "n", nil); err != nil {
		t.Errorf("method registered while serving: %v", err)
	}
}

func mustListen(t *testing.T) net.Listener {
	l, err := net.Listen("unix", socketPath(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestHandlerResponseTooLarge(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	srv.Register("s", map[string]Handler{
		"big": func(context.Context, []byte) ([]byte, error) { return make([]byte, maxMessageLen), nil },
	})
	l := mustListen(t)
	go srv.Serve(context.Background(), l)
	c := NewClient(dial(t, l.Addr().String()))
	defer c.Close()
	if _, err := c.Call(context.Background(), "s", "big", nil); !errdefs.IsResourceExhausted(err) {
		t.Fatalf("got %v, want ResourceExhausted", err)
	}
	if _, err := c.Call(context.Background(), "s", "big", make([]byte, maxMessageLen)); !errdefs.IsResourceExhausted(err) {
		t.Fatalf("oversized request: %v, want ResourceExhausted", err)
	}
	if _, err := c.Call(context.Background(), "s", "missing", nil); !errdefs.IsNotImplemented(err) {
		t.Fatalf("connection unusable after a refused response: %v", err)
	}
}
