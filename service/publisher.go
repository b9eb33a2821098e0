package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	eventsv1 "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// publisher forwards events to containerd's ttrpc events service. It
// dials lazily and redials after a broken connection, so a containerd
// restart costs a retry rather than every later event.
type publisher struct {
	address   string
	namespace string

	mu     sync.Mutex
	client *ttrpc.Client
}

func newPublisher(address, namespace string) *publisher {
	return &publisher{address: strings.TrimPrefix(address, "unix://"), namespace: namespace}
}

const publishAttempts = 5

// publish sends one event, retrying a few times with a growing pause.
func (p *publisher) publish(ctx context.Context, e proto.Message) error {
	event, err := typeurl.MarshalAnyToProto(e)
	if err != nil {
		return fmt.Errorf("marshal %s event: %w", topic(e), err)
	}
	req := &eventsv1.ForwardRequest{Envelope: &types.Envelope{
		Timestamp: timestamppb.New(time.Now().UTC()),
		Namespace: p.namespace,
		Topic:     topic(e),
		Event:     event,
	}}
	for i := range publishAttempts {
		if i > 0 {
			time.Sleep(time.Duration(i*i) * 10 * time.Millisecond)
		}
		var c *ttrpc.Client
		if c, err = p.conn(); err != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = eventsv1.NewTTRPCEventsClient(c).Forward(cctx, req)
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, ttrpc.ErrClosed) {
			p.drop(c)
		}
	}
	return fmt.Errorf("publish %s: %w", topic(e), err)
}

func (p *publisher) conn() (*ttrpc.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		return p.client, nil
	}
	if p.address == "" {
		return nil, errors.New("containerd's ttrpc address is unknown (TTRPC_ADDRESS)")
	}
	conn, err := dialUnix(p.address)
	if err != nil {
		return nil, err
	}
	p.client = ttrpc.NewClient(conn)
	return p.client, nil
}

func (p *publisher) drop(c *ttrpc.Client) {
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
