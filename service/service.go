package service

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	runc "github.com/containerd/go-runc"
	"github.com/containerd/log"
	"google.golang.org/protobuf/proto"

	"github.com/raind/raind/process"
	"github.com/raind/raind/runtime"
)

// container is one container served by this shim; its fields are guarded
// by service.mu.
type container struct {
	init  *process.Init
	track *tracked
	execs map[string]*execEntry
	// heldInitExit is the init's exit, waiting for the execs' exits.
	heldInitExit *runc.Exit
	// oom reports the OOM kills in the container's cgroup; nil without
	// a memory controller, and once the container is deleted.
	oom *oomWatch
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
	namespace string
	// init is the container init program beside the shim, or empty to
	// re-execute the shim itself (see initBinary).
	init string
	// sealed is init (or the shim) sealed against overwrite, made with the
	// first container (see initExe).
	sealOnce sync.Once
	sealed   *runtime.SealedBinary
	sealErr  error

	mu         sync.Mutex
	containers map[string]*container
	creating   map[string]struct{}
	byPid      map[int]*tracked
	unclaimed  map[int]runc.Exit

	ec     chan runc.Exit
	events chan any
	// quit ends the event forwarder once the last events are out.
	quit chan struct{}
	// active gets a token after each request and each exit: the daemon
	// collects garbage once the shim has gone quiet (see serveDaemon).
	active chan struct{}
	// shutdown is closed, once, when the shim has nothing left to serve.
	shutdown     chan struct{}
	shutdownOnce sync.Once
	// epoller relays every terminal of this shim. It is made with the
	// first terminal: its wait loop holds an OS thread for good, which a
	// shim without terminals need not pay for. Guarded by mu.
	epoller *console.Epoller
}

// newService starts exit processing and event forwarding.
func newService(ctx context.Context, namespace string, p *publisher, shutdown chan struct{}) (*service, error) {
	s := &service{
		namespace:  namespace,
		containers: make(map[string]*container),
		creating:   make(map[string]struct{}),
		byPid:      make(map[int]*tracked),
		unclaimed:  make(map[int]runc.Exit),
		ec:         reaper.Default.Subscribe(),
		events:     make(chan any, 128),
		quit:       make(chan struct{}),
		active:     make(chan struct{}, 1),
		shutdown:   shutdown,
		init:       initBinary(),
	}
	go s.processExits()
	go s.forward(ctx, p)
	return s, nil
}

// touch notes activity without ever blocking.
func (s *service) touch() {
	select {
	case s.active <- struct{}{}:
	default:
	}
}

// flush, queued among events, is closed once everything before it has been
// published.
type flush chan struct{}

// forward publishes events in the order they were sent.
func (s *service) forward(ctx context.Context, p *publisher) {
	ctx = context.WithoutCancel(ctx)
	defer p.close()
	for {
		select {
		case e := <-s.events:
			switch e := e.(type) {
			case flush:
				close(e)
			case proto.Message:
				if err := p.publish(ctx, e); err != nil {
					log.G(ctx).WithError(err).Error("publish event")
				}
			}
		case <-s.quit:
			return
		}
	}
}

// close waits, at most timeout, until every queued event (the last
// TaskDelete above all) has been published, then stops the forwarder.
func (s *service) close(timeout time.Duration) {
	// Ended first, so that no TaskOOM comes in behind the flush.
	s.stopAllOOM(context.Background(), oomStopTimeout)
	f := flush(make(chan struct{}))
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case s.events <- f:
		select {
		case <-f:
		case <-t.C:
		}
	case <-t.C:
	}
	close(s.quit)
	s.mu.Lock()
	if s.epoller != nil {
		_ = s.epoller.Close()
	}
	s.mu.Unlock()
}

// terminalEpoller returns the shim's terminal epoller, starting it on first
// use.
func (s *service) terminalEpoller(ctx context.Context) (*console.Epoller, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoller != nil {
		return s.epoller, nil
	}
	ep, err := console.NewEpoller()
	if err != nil {
		return nil, fmt.Errorf("terminal epoll: %w", err)
	}
	go func() {
		if err := ep.Wait(); err != nil {
			log.G(ctx).WithError(err).Error("terminal epoll loop")
		}
	}()
	s.epoller = ep
	return ep, nil
}
