package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/raind/raind/service/taskpb"
	"github.com/raind/raind/service/wire"
)

// publisher forwards events to containerd's ttrpc events service. It
// dials lazily and redials after a broken connection, so a containerd
// restart costs a retry rather than every later event.
type publisher struct {
	address   string
	namespace string

	mu     sync.Mutex
	client *wire.Client
}

func newPublisher(address, namespace string) *publisher {
	return &publisher{address: strings.TrimPrefix(address, "unix://"), namespace: namespace}
}

const publishAttempts = 5

// publish sends one event, retrying a few times with a growing pause.
func (p *publisher) publish(ctx context.Context, e taskpb.Event) error {
	req := (&taskpb.ForwardRequest{Envelope: &taskpb.Envelope{
		Timestamp: time.Now().UTC(),
		Namespace: p.namespace,
		Topic:     e.Topic(),
		Event:     taskpb.MarshalEvent(e),
	}}).Marshal()
	var err error
	for i := range publishAttempts {
		if i > 0 {
			time.Sleep(time.Duration(i*i) * 10 * time.Millisecond)
		}
		var c *wire.Client
		if c, err = p.conn(); err != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = c.Call(cctx, taskpb.EventsService, "Forward", req)
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, wire.ErrClosed) {
			p.drop(c)
		}
	}
	return fmt.Errorf("publish %s: %w", e.Topic(), err)
}

func (p *publisher) conn() (*wire.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		return p.client, nil
	}
	if p.address == "" {
		return nil, errors.New("containerd's ttrpc address is unknown (TTRPC_ADDRESS)")
	}
	conn, err := dialUnix(p.address, 5*time.Second)
	if err != nil {
		return nil, err
	}
	p.client = wire.NewClient(conn)
	return p.client, nil
}

func (p *publisher) drop(c *wire.Client) {
	p.mu.Lock()
	if p.client == c {
		p.client = nil
	}
	p.mu.Unlock()
	_ = c.Close()
}

func (p *publisher) close() {
	p.mu.Lock()
	c := p.client
	p.client = nil
	p.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}
