package service

import (
	"context"
	"time"

	eventsapi "github.com/containerd/containerd/api/events"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

// oomSource is what the service needs of a container to report the OOM
// kills in its cgroup: *process.Init, or a fake in tests.
type oomSource interface {
	// OOMEvents notifies kills; the channel closes when ctx is done or
	// the cgroup is gone.
	OOMEvents(ctx context.Context) (<-chan struct{}, error)
	// OOMKills is the kernel's count of kills in the cgroup so far.
	OOMKills() (uint64, error)
}

// oomWatch publishes the OOM kills of one container's cgroup as TaskOOM.
//
// Notifications (the v1 eventfd, the v2 inotify watch) can reach the shim
// after the victim's SIGCHLD, so they alone cannot put a TaskOOM before the
// init's TaskExit. The kernel's kill counter can: it is raised before the
// victim is sent SIGKILL. So each notification, the init's TaskStart and
// the init's TaskExit compare the counter with what has been published, and
// one TaskOOM covers every kill since the last (the event carries no count,
// and containerd's CRI only needs to hear of one; the runc shim merges
// kills alike). The comparisons run under service.mu, where the events are
// queued, so a kill is never published twice and none after the TaskExit.
// Where the kernel has no counter (v1 before Linux 4.13) each notification
// is one TaskOOM, and a notification late for the exit is lost.
//
// Its fields, but cancel and done, are guarded by service.mu.
type oomWatch struct {
	src oomSource
	// counted tells whether src.OOMKills works here.
	counted bool
	// reported is the kill count the published TaskOOMs cover.
	reported uint64
	// owed is a kill seen before the init's TaskStart was out: a client
	// must not hear of a kill in a task it has not seen start.
	owed bool
	// ended is set once the init's TaskExit is queued (or the container
	// deleted): nothing published after it could be ordered before it.
	ended bool

	cancel context.CancelFunc
	// done is closed when the watching goroutine has returned.
	done chan struct{}
}

// oomStopTimeout bounds the wait for a watcher to end at shutdown.
const oomStopTimeout = 2 * time.Second

// watchOOM starts reporting the OOM kills of c's cgroup. Create calls it
// once the init waits in its cgroup, rather than Start: the program may
// be killed the moment Start lets it run, before Start could set up a
// watch. A container without a memory controller gets no watch, and that
// is no error of the task.
func (s *service) watchOOM(ctx context.Context, id string, c *container, src oomSource) {
	lg := log.G(ctx).WithField("id", id)
	// The watch outlives the Create request; Delete or close ends it.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	events, err := src.OOMEvents(wctx)
	if err != nil {
		cancel()
		if errdefs.IsNotImplemented(err) {
			lg.WithError(err).Debug("no OOM events for this container")
		} else {
			lg.WithError(err).Warn("watching OOM kills")
		}
		return
	}
	w := &oomWatch{src: src, cancel: cancel, done: make(chan struct{})}
	// Kills counted before the watch began (a reused cgroup) are not
	// this container's.
	if n, err := src.OOMKills(); err == nil {
		w.counted, w.reported = true, n
	} else {
		lg.WithError(err).Debug("no OOM kill count; reporting OOM notifications as they come")
	}
	s.mu.Lock()
	c.oom = w
	s.mu.Unlock()
	go func() {
		defer close(w.done)
		for range events {
			s.mu.Lock()
			s.noteOOM(c, w, true)
			s.mu.Unlock()
		}
	}()
}

// noteOOM publishes a TaskOOM for the kills in w's cgroup not published
// yet; notified says a notification came. s.mu is held.
func (s *service) noteOOM(c *container, w *oomWatch, notified bool) {
	if w.ended {
		return
	}
	counted := false
	if w.counted {
		// A read of one small cgroup file: cheap enough under s.mu,
		// which orders it with the exit.
		n, err := w.src.OOMKills()
		if counted = err == nil; counted && n > w.reported {
			w.reported, w.owed = n, true
		}
	}
	if notified && !counted {
		// No count to go by (or it could not be read): the
		// notification is the kill. A later count may cover it again;
		// a duplicate is better than a lost kill.
		w.owed = true
	}
	if w.owed && c.track != nil && c.track.startPublished {
		w.owed = false
		s.send(&eventsapi.TaskOOM{ContainerID: c.track.containerID})
	}
}

// initStartedOOM publishes the kills seen before the init's TaskStart,
// which has just been queued. s.mu is held.
func (s *service) initStartedOOM(c *container) {
	if c.oom != nil {
		s.noteOOM(c, c.oom, false)
	}
}

// exitOOM publishes the kills not published yet, since a TaskExit of c's
// is queued next and the process may be the victim; after the init's
// (init) the watch ends. s.mu is held; the goroutine is not waited for
// here, since it may be waiting for s.mu (Delete waits).
func (s *service) exitOOM(c *container, init bool) {
	w := c.oom
	if w == nil {
		return
	}
	s.noteOOM(c, w, false)
	if init {
		w.ended = true
		w.cancel()
	}
}

// detachOOM ends c's watch, at Delete, so that nothing follows the
// TaskDelete queued next, and returns it for the caller to stop once s.mu
// is released. s.mu is held.
func detachOOM(c *container) *oomWatch {
	w := c.oom
	c.oom = nil
	if w != nil {
		w.ended = true
	}
	return w
}

// stop ends the goroutine and waits for it until deadline. ended is set.
func (w *oomWatch) stop(ctx context.Context, id string, deadline time.Time) {
	w.cancel()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
		log.G(ctx).WithField("id", id).Warn("OOM watcher did not end")
	}
}

// stopAllOOM ends every watch left when the shim stops: containerd asks a
// shim to shut down only once it serves no container, but a signal stops
// it whatever it serves.
func (s *service) stopAllOOM(ctx context.Context, timeout time.Duration) {
	s.mu.Lock()
	ws := map[string]*oomWatch{}
	for id, c := range s.containers {
		if w := detachOOM(c); w != nil {
			ws[id] = w
		}
	}
	s.mu.Unlock()
	for _, w := range ws {
		w.cancel()
	}
	deadline := time.Now().Add(timeout)
	for id, w := range ws {
		w.stop(ctx, id, deadline)
	}
}
