package service

import (
	"context"
	"fmt"
	"sync"

	"github.com/containerd/console"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	runc "github.com/containerd/go-runc"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"

	"github.com/raind/raind/process"
)

// container is one container served by this shim; its fields are guarded
// by service.mu.
type container struct {
	init  *process.Init
	track *tracked
	execs map[string]*execEntry
	// heldInitExit is the init's exit, waiting for the execs' exits.
	heldInitExit *runc.Exit
}

type execEntry struct {
	proc  *process.Exec
	track *tracked
}

// runningExecs counts execs that have started and not exited.
func (c *container) runningExecs() int {
	n := 0
	for _, e := range c.execs {
		if e.proc.Status() == process.Running {
			n++
		}
	}
	return n
}

// service implements the task API for every container of one shim.
type service struct {
	mu         sync.Mutex
	containers map[string]*container
	creating   map[string]struct{}
	byPid      map[int]*tracked
	unclaimed  map[int]runc.Exit

	ec       chan runc.Exit
	events   chan any
	shutdown shutdown.Service
	// epoller relays every terminal of this shim.
	epoller *console.Epoller
}

var _ taskAPI.TTRPCTaskService = (*service)(nil)

// NewTaskService starts exit processing and event forwarding and returns
// the task service.
func NewTaskService(ctx context.Context, publisher shim.Publisher, sd shutdown.Service) (taskAPI.TTRPCTaskService, error) {
	ep, err := console.NewEpoller()
	if err != nil {
		return nil, fmt.Errorf("terminal epoll: %w", err)
	}
	go func() {
		if err := ep.Wait(); err != nil {
			log.G(ctx).WithError(err).Error("terminal epoll loop")
		}
	}()
	s := &service{
		epoller:    ep,
		containers: make(map[string]*container),
		creating:   make(map[string]struct{}),
		byPid:      make(map[int]*tracked),
		unclaimed:  make(map[int]runc.Exit),
		ec:         reaper.Default.Subscribe(),
		events:     make(chan any, 128),
		shutdown:   sd,
	}
	go s.processExits()
	go s.forward(ctx, publisher)
	// pkg/shim exits soon after shutdown: hold it until every queued
	// event, the last TaskDelete above all, has been published.
	sd.RegisterCallback(func(ctx context.Context) error {
		f := flush(make(chan struct{}))
		select {
		case s.events <- f:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-f:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if address, err := shim.ReadAddress("address"); err == nil {
		sd.RegisterCallback(func(context.Context) error {
			return shim.RemoveSocket(address)
		})
	}
	return s, nil
}

// RegisterTTRPC registers the task service.
func (s *service) RegisterTTRPC(server *ttrpc.Server) error {
	taskAPI.RegisterTTRPCTaskService(server, s)
	return nil
}

// flush, queued among events, is closed once everything before it has been
// published.
type flush chan struct{}

// forward publishes events in the order they were sent, and drains the
// queue at shutdown so that the last TaskDelete is not lost.
func (s *service) forward(ctx context.Context, publisher shim.Publisher) {
	ctx = context.WithoutCancel(ctx)
	defer publisher.Close()
	publish := func(e any) {
		if err := publisher.Publish(ctx, runtime.GetTopic(e), e); err != nil {
			log.G(ctx).WithError(err).Error("publish event")
		}
	}
	for {
		select {
		case e := <-s.events:
			if f, ok := e.(flush); ok {
				close(f)
				continue
			}
			publish(e)
		case <-s.shutdown.Done():
			for {
				select {
				case e := <-s.events:
					if f, ok := e.(flush); ok {
						close(f)
						continue
					}
					publish(e)
				default:
					return
				}
			}
		}
	}
}
