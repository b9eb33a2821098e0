package wire

import (
	"bufio"
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

// fakeServer answers each request the client sends with whatever reply
// returns, to feed the client frames a real server would not send.
func fakeServer(t *testing.T, reply func(req frameHeader, w net.Conn)) *Client {
	t.Helper()
	cc, sc := net.Pipe()
	go func() {
		defer sc.Close()
		br := bufio.NewReader(sc)
		for {
			h, _, err := readFrame(br)
			if err != nil {
				return
			}
			reply(h, sc)
		}
	}()
	c := NewClient(cc)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientOddIncreasingStreamIDs(t *testing.T) {
	ids := make(chan uint32, 3)
	c := fakeServer(t, func(h frameHeader, w net.Conn) {
		ids <- h.streamID
		w.Write(appendFrame(nil, h.streamID, typeResponse, 0, (&response{status: &rpcStatus{}}).marshal()))
	})
	for range 3 {
		if _, err := c.Call(context.Background(), "s", "m", nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []uint32{1, 3, 5} {
		if got := <-ids; got != want {
			t.Errorf("stream id %d, want %d", got, want)
		}
	}
}

func TestClientBadFrames(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		reply func(h frameHeader, w net.Conn)
		check func(error) bool
	}{
		{"MalformedResponse", func(h frameHeader, w net.Conn) {
			w.Write(appendFrame(nil, h.streamID, typeResponse, 0, []byte{0x0a, 0x05, 0x08}))
		}, errdefs.IsInternal},
		{"DataFrame", func(h frameHeader, w net.Conn) {
			w.Write(appendFrame(nil, h.streamID, typeData, 0, []byte{1}))
		}, errdefs.IsInternal},
		{"OversizedResponse", func(h frameHeader, w net.Conn) {
			w.Write(appendFrame(nil, h.streamID, typeResponse, 0, make([]byte, maxMessageLen+1)))
		}, errdefs.IsResourceExhausted},
		{"OtherStreamThenOwn", func(h frameHeader, w net.Conn) {
			w.Write(appendFrame(nil, h.streamID+2, typeResponse, 0, nil))
			w.Write(appendFrame(nil, h.streamID, messageType(7), 0, []byte{1}))
			w.Write(appendFrame(nil, h.streamID, typeResponse, 0, (&response{payload: []byte("ok")}).marshal()))
		}, func(err error) bool { return err == nil }},
		{"HangUp", func(h frameHeader, w net.Conn) {
			w.Close()
		}, func(err error) bool { return errors.Is(err, ErrClosed) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeServer(t, tc.reply)
			_, err := c.Call(ctx, "s", "m", nil)
			if !tc.check(err) {
				t.Fatalf("unexpected result %v", err)
			}
		})
	}
}

func TestClientStatusMessage(t *testing.T) {
	c := fakeServer(t, func(h frameHeader, w net.Conn) {
		st := &rpcStatus{code: codeFailedPrecondition, message: "task t1: conflict"}
		w.Write(appendFrame(nil, h.streamID, typeResponse, 0, (&response{status: st}).marshal()))
	})
	_, err := c.Call(context.Background(), "s", "m", nil)
	if !errdefs.IsConflict(err) || err.Error() != "task t1: conflict" {
		t.Fatalf("got %v", err)
	}
}

func TestClientExpiredDeadline(t *testing.T) {
	c := fakeServer(t, func(frameHeader, net.Conn) { t.Error("request sent with an expired deadline") })
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := c.Call(ctx, "s", "m", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestClientNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	cc, sc := net.Pipe()
	c := NewClient(cc)
	sc.Close() // the reader notices by itself
	if _, err := c.Call(context.Background(), "s", "m", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("call on dead connection: %v", err)
	}
	<-c.readerDone
	if err := c.Close(); err != nil {
		t.Errorf("Close after the connection died: %v", err)
	}
	waitGoroutines(t, base)
}
