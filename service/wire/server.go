package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
)

// Handler serves one method: it gets the request payload and returns the
// response payload.
type Handler func(ctx context.Context, req []byte) ([]byte, error)

// ErrServerClosed is returned by Serve once Shutdown or Close was called.
var ErrServerClosed = errors.New("wire: server closed")

// Server serves unary ttrpc calls.
type Server struct {
	svcMu    sync.RWMutex
	services map[string]map[string]Handler

	mu        sync.Mutex
	closing   bool
	done      chan struct{} // closed with closing set, to wake Serve's backoff
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	// running counts the goroutines the server started and that have not
	// ended, so Shutdown can wait for all of them without a WaitGroup
	// (whose Wait cannot be abandoned when Shutdown's ctx ends).
	running       int
	drained       chan struct{} // closed once closing and running == 0
	drainedClosed bool
}

// NewServer returns a server with no services.
func NewServer() *Server {
	return &Server{
		services:  make(map[string]map[string]Handler),
		done:      make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*serverConn]struct{}),
		drained:   make(chan struct{}),
	}
}

// Register adds the methods of one service (e.g. "containerd.task.v3.Task").
// It may be called while serving. Registering a service again adds to its
// methods, replacing those of the same name; nil handlers are ignored.
func (s *Server) Register(service string, methods map[string]Handler) {
	s.svcMu.Lock()
	defer s.svcMu.Unlock()
	m := s.services[service]
	if m == nil {
		m = make(map[string]Handler, len(methods))
		s.services[service] = m
	}
	for name, h := range methods {
		if h != nil {
			m[name] = h
		}
	}
}

// lookup answers unknown names with the status ttrpc's server gives, since
// clients may match on it.
func (s *Server) lookup(service, method string) (Handler, *rpcStatus) {
	s.svcMu.RLock()
	defer s.svcMu.RUnlock()
	m, ok := s.services[service]
	if !ok {
		return nil, &rpcStatus{code: codeUnimplemented, message: "service " + service}
	}
	h, ok := m[method]
	if !ok {
		return nil, &rpcStatus{code: codeUnimplemented, message: "method " + method}
	}
	return h, nil
}

// Serve accepts connections on l until Shutdown or Close, then returns
// ErrServerClosed; otherwise it returns the listener's error. Handlers get
// contexts derived from ctx. l is closed when Serve returns.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		_, ours := s.listeners[l]
		delete(s.listeners, l)
		s.mu.Unlock()
		if ours {
			l.Close()
		}
	}()

	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if !isTemporary(err) {
				return err
			}
			// Out of fds or similar: a tight retry loop would only burn CPU
			// while whatever holds the fds finishes.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		if !s.startConn(ctx, conn) {
			return ErrServerClosed
		}
	}
}

func isTemporary(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) startConn(ctx context.Context, conn net.Conn) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		conn.Close()
		return false
	}
	c := newServerConn(ctx, s, conn)
	s.conns[c] = struct{}{}
	s.running++
	s.mu.Unlock()
	go c.serve()
	return true
}

// goStarted must be called by a goroutine that is itself counted in
// running, so the count cannot reach zero in between.
func (s *Server) goStarted() {
	s.mu.Lock()
	s.running++
	s.mu.Unlock()
}

func (s *Server) goEnded(c *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c != nil {
		delete(s.conns, c)
	}
	s.running--
	s.checkDrainedLocked()
}

func (s *Server) checkDrainedLocked() {
	if s.closing && s.running == 0 && !s.drainedClosed {
		s.drainedClosed = true
		close(s.drained)
	}
}

// Shutdown stops accepting, lets in-flight calls finish and their
// responses be written, closes the connections and returns when all that is
// done or ctx ends. Requests arriving meanwhile on open connections are
// answered with Unavailable, so a busy client cannot hold Shutdown forever.
func (s *Server) Shutdown(ctx context.Context) error {
	conns, err := s.beginClose()
	for _, c := range conns {
		c.drain()
	}
	select {
	case <-s.drained:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes listeners and connections at once. Running handlers see
// their ctx cancelled; Close does not wait for them to return.
func (s *Server) Close() error {
	conns, err := s.beginClose()
	for _, c := range conns {
		c.close()
	}
	return err
}

func (s *Server) beginClose() ([]*serverConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.closing = true
		close(s.done)
	}
	var err error
	for l := range s.listeners {
		if cerr := l.Close(); cerr != nil && err == nil {
			err = cerr
		}
		delete(s.listeners, l)
	}
	s.checkDrainedLocked()
	return slices.Collect(maps.Keys(s.conns)), err
}

type serverConn struct {
	srv    *Server
	conn   net.Conn
	ctx    context.Context
	cancel context.CancelFunc

	wmu sync.Mutex // one frame at a time on conn

	mu       sync.Mutex
	active   int  // requests whose response is not written yet
	draining bool // Shutdown: close once active is 0, refuse new requests

	closeOnce sync.Once
}

func newServerConn(ctx context.Context, s *Server, conn net.Conn) *serverConn {
	ctx, cancel := context.WithCancel(ctx)
	return &serverConn{srv: s, conn: conn, ctx: ctx, cancel: cancel}
}

// serve reads frames until the connection fails or is closed; it is the
// only reader, so it owns the stream id bookkeeping.
func (c *serverConn) serve() {
	defer c.srv.goEnded(c)
	defer c.close()

	br := bufio.NewReader(c.conn)
	var lastID uint32
	for {
		h, p, err := readFrame(br)
		if err != nil {
			var tooLarge frameTooLargeError
			if errors.As(err, &tooLarge) {
				// The payload was skipped, so the stream is still in sync:
				// refuse that one message and go on, as ttrpc does.
				c.writeStatus(h.streamID, codeResourceExhausted, tooLarge.Error())
				continue
			}
			return
		}
		// The checks and their messages follow ttrpc's server, in its order.
		if h.streamID%2 != 1 {
			c.writeStatus(h.streamID, codeInvalidArgument, "StreamID must be odd for client initiated streams")
			continue
		}
		switch h.typ {
		case typeRequest:
			if h.streamID <= lastID {
				c.writeStatus(h.streamID, codeInvalidArgument, "StreamID cannot be re-used and must increment")
				continue
			}
			lastID = h.streamID
			c.handleRequest(h, p)
		case typeData:
			// No stream is ever open here; this is ttrpc's answer to data
			// on a stream it does not know.
			c.writeStatus(h.streamID, codeInvalidArgument, "StreamID is no longer active")
		}
		// Other types are ignored, as ttrpc does, for forward compatibility.
	}
}

func (c *serverConn) handleRequest(h frameHeader, p []byte) {
	req, err := unmarshalRequest(p)
	if err != nil {
		c.writeStatus(h.streamID, codeInvalidArgument, "unmarshal request error: "+err.Error())
		return
	}
	handler, st := c.srv.lookup(req.service, req.method)
	if st != nil {
		c.writeResponse(h.streamID, &response{status: st})
		return
	}
	if h.flags&(flagRemoteOpen|flagRemoteClosed) != 0 {
		c.writeStatus(h.streamID, codeUnimplemented, fmt.Sprintf("method %s: streaming is not supported", req.method))
		return
	}
	if !c.begin() {
		c.writeStatus(h.streamID, codeUnavailable, ErrServerClosed.Error())
		return
	}
	c.srv.goStarted()
	go c.run(h.streamID, handler, req)
}

func (c *serverConn) run(id uint32, h Handler, req request) {
	defer c.srv.goEnded(nil)
	defer c.end()

	ctx, cancel := c.requestContext(req.timeoutNano)
	payload, err := callHandler(ctx, h, req.payload)
	cancel()

	resp := &response{status: &rpcStatus{}, payload: payload}
	if err != nil {
		resp = &response{status: statusFromError(err)}
	}
	c.writeResponse(id, resp)
}

func (c *serverConn) requestContext(timeoutNano int64) (context.Context, context.CancelFunc) {
	if timeoutNano == 0 {
		return context.WithCancel(c.ctx)
	}
	// A negative timeout means the caller's deadline had already passed;
	// ttrpc hands the handler an expired context then, and so do we.
	return context.WithTimeout(c.ctx, time.Duration(timeoutNano))
}

// callHandler keeps a panicking handler from taking the whole shim down
// with it; the caller sees Internal instead.
func callHandler(ctx context.Context, h Handler, req []byte) (resp []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp = nil
			err = errdefs.ErrInternal.WithMessage(fmt.Sprintf("ttrpc: panic in handler: %v", r))
		}
	}()
	return h(ctx, req)
}

func (c *serverConn) writeStatus(id uint32, code int32, msg string) {
	c.writeResponse(id, &response{status: &rpcStatus{code: code, message: msg}})
}

func (c *serverConn) writeResponse(id uint32, resp *response) {
	msg := resp.marshal()
	if len(msg) > maxMessageLen {
		// ttrpc's server drops the connection here; refusing the one
		// response keeps the other calls on the connection alive.
		msg = (&response{status: &rpcStatus{code: codeResourceExhausted, message: errTooLarge(len(msg)).Error()}}).marshal()
	}
	frame := appendFrame(make([]byte, 0, frameHeaderLen+len(msg)), id, typeResponse, 0, msg)
	c.wmu.Lock()
	_, err := c.conn.Write(frame)
	c.wmu.Unlock()
	if err != nil {
		// Part of the frame may be out; nothing after it could be parsed.
		c.close()
	}
}

func (c *serverConn) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining {
		return false
	}
	c.active++
	return true
}

func (c *serverConn) end() {
	c.mu.Lock()
	c.active--
	idle := c.draining && c.active == 0
	c.mu.Unlock()
	if idle {
		c.close()
	}
}

func (c *serverConn) drain() {
	c.mu.Lock()
	c.draining = true
	idle := c.active == 0
	c.mu.Unlock()
	if idle {
		c.close()
	}
}

// close makes serve's read fail, which ends the connection, and cancels the
// handlers' contexts.
func (c *serverConn) close() {
	c.closeOnce.Do(func() {
		c.cancel()
		c.conn.Close()
	})
}
