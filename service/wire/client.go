package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/containerd/errdefs"
)

// ErrClosed is returned by Call after Close or after the connection died.
var ErrClosed = errors.New("wire: client closed")

// Client makes unary ttrpc calls over one connection.
type Client struct {
	conn net.Conn

	// wmu is held from taking a stream id until its frame is written:
	// the server refuses ids that do not increase, so ids must reach the
	// wire in the order they were taken.
	wmu    sync.Mutex
	nextID uint64 // wider than an id, so running out is visible

	mu     sync.Mutex
	calls  map[uint32]chan<- callResult
	closed bool

	closeOnce  sync.Once
	readerDone chan struct{}
}

type callResult struct {
	resp response
	err  error
}

// NewClient starts a client on conn, which it owns from now on.
func NewClient(conn net.Conn) *Client {
	c := &Client{
		conn:       conn,
		nextID:     1,
		calls:      make(map[uint32]chan<- callResult),
		readerDone: make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// Call sends one unary request and waits for its response. A ctx deadline
// is sent as the request timeout. A non-OK status is returned as an error
// whose text is the status message and which errdefs recognises
// (errdefs.IsNotFound etc.; Canceled and DeadlineExceeded unwrap to the
// context errors).
func (c *Client) Call(ctx context.Context, service, method string, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !utf8.ValidString(service) || !utf8.ValidString(method) {
		// The peer would fail to decode the request at all.
		return nil, fmt.Errorf("wire: service and method must be valid UTF-8: %w", errdefs.ErrInvalidArgument)
	}
	r := request{service: service, method: method, payload: req}
	if dl, ok := ctx.Deadline(); ok {
		d := time.Until(dl)
		if d <= 0 {
			return nil, context.DeadlineExceeded
		}
		r.timeoutNano = d.Nanoseconds()
	}
	msg := r.marshal()
	if len(msg) > maxMessageLen {
		return nil, errTooLarge(len(msg))
	}

	ch := make(chan callResult, 1)
	id, err := c.send(msg, ch)
	if err != nil {
		return nil, err
	}
	select {
	case res := <-ch:
		if res.err != nil {
			return nil, res.err
		}
		if st := res.resp.status; st != nil && st.code != codeOK {
			return nil, errorFromStatus(st)
		}
		return res.resp.payload, nil
	case <-ctx.Done():
		// A late response finds no call and is dropped.
		c.forget(id)
		return nil, ctx.Err()
	}
}

func (c *Client) send(msg []byte, ch chan<- callResult) (uint32, error) {
	frame := appendFrame(make([]byte, 0, frameHeaderLen+len(msg)), 0, typeRequest, 0, msg)

	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	if c.nextID > math.MaxUint32 {
		c.mu.Unlock()
		return 0, fmt.Errorf("wire: stream ids exhausted on this connection: %w", errdefs.ErrResourceExhausted)
	}
	id := uint32(c.nextID)
	c.nextID += 2
	c.calls[id] = ch
	c.mu.Unlock()

	binary.BigEndian.PutUint32(frame[4:8], id)
	if _, err := c.conn.Write(frame); err != nil {
		c.forget(id)
		// Part of the frame may be out, so nothing after it could be
		// parsed: the connection is done, and the reader fails the rest.
		c.conn.Close()
		return 0, ErrClosed
	}
	return id, nil
}

func (c *Client) forget(id uint32) {
	c.mu.Lock()
	delete(c.calls, id)
	c.mu.Unlock()
}

func (c *Client) deliver(id uint32, res callResult) {
	c.mu.Lock()
	ch, ok := c.calls[id]
	delete(c.calls, id)
	c.mu.Unlock()
	if ok {
		ch <- res // buffered for exactly this one result
	}
}

func (c *Client) readLoop() {
	defer close(c.readerDone)

	br := bufio.NewReader(c.conn)
	for {
		h, p, err := readFrame(br)
		if err != nil {
			var tooLarge frameTooLargeError
			if errors.As(err, &tooLarge) {
				c.deliver(h.streamID, callResult{err: errTooLarge(int(tooLarge.length))})
				continue
			}
			break
		}
		switch h.typ {
		case typeResponse:
			resp, err := unmarshalResponse(p)
			if err != nil {
				err = fmt.Errorf("wire: malformed response: %v: %w", err, errdefs.ErrInternal)
			}
			c.deliver(h.streamID, callResult{resp: resp, err: err})
		case typeData:
			c.deliver(h.streamID, callResult{err: fmt.Errorf("wire: data message on a unary call: %w", errdefs.ErrInternal)})
		}
		// Other types are ignored, as ttrpc does, for forward compatibility.
	}

	c.mu.Lock()
	c.closed = true
	calls := c.calls
	c.calls = nil
	c.mu.Unlock()
	c.conn.Close()
	for _, ch := range calls {
		ch <- callResult{err: ErrClosed}
	}
}

// Close closes the connection, fails pending calls with ErrClosed and
// returns once the reader goroutine has ended.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		err = c.conn.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil // the reader got there first
		}
	})
	<-c.readerDone
	return err
}
