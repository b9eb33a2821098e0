package service

import (
	"syscall"
	"time"

	eventsapi "github.com/containerd/containerd/api/events"
	runc "github.com/containerd/go-runc"
	"github.com/containerd/log"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// unclaimedLimit bounds the exits kept for pids that are not registered
// (yet): spawn intermediates, orphans the shim inherited as subreaper, or a
// process that died between being spawned and being registered.
const unclaimedLimit = 1024

// exitTarget is a process that can be told it exited.
type exitTarget interface {
	SetExited(code int, at time.Time)
}

// outputOwner is a process that writes its client's FIFOs itself, so that
// its exit must wait until the client has read what it wrote (see
// stdio.IO.WaitRead).
type outputOwner interface {
	UnreadOutput() int
	WaitOutputRead() bool
}

// tracked is a process whose exit the service publishes.
type tracked struct {
	containerID string
	id          string // exec id, or the container id for init
	pid         int
	target      exitTarget
	// startPublished is set once the start event is out; an exit that
	// comes earlier waits in pending, so TaskExit never precedes TaskStart.
	startPublished bool
	pending        *runc.Exit
	// c is the container of the process; nil only in tests.
	c      *container
	isInit bool
	// draining is the exit reaped while the client still had output to
	// read: exitedOnceRead records it once the client has read, unless
	// releaseDrain does first.
	draining *runc.Exit
}

// processExits matches every reaped child to its process.
func (s *service) processExits() {
	for e := range s.ec {
		s.touch()
		s.mu.Lock()
		t, ok := s.byPid[e.Pid]
		if !ok {
			s.rememberUnclaimed(e)
			s.mu.Unlock()
			continue
		}
		delete(s.byPid, e.Pid)
		s.deliverExit(t, e)
		s.mu.Unlock()
		if t.isInit && t.c != nil && !t.c.init.Container().OwnPidNamespace() {
			// Nothing else ends the rest of a container whose pid
			// namespace outlives its init.
			if err := t.c.init.Container().KillAll(syscall.SIGKILL); err != nil {
				log.L.WithError(err).WithField("id", t.containerID).Warn("killing processes left after init exit")
			}
		}
	}
}

// deliverExit records e for t now, or, while t's client has output left
// to read, once it has read it (off the caller's goroutine: other exits
// must not wait for this client). s.mu is held.
func (s *service) deliverExit(t *tracked, e runc.Exit) {
	if o, ok := t.target.(outputOwner); ok && o.UnreadOutput() > 0 {
		t.draining = &e
		go s.exitedOnceRead(t, o, e)
		return
	}
	s.exited(t, e)
}

// exitedOnceRead records e for t once t's client has read its output, or
// has stopped reading. Until then t counts as running, so its container's
// init exit is held back behind it as for any running exec.
func (s *service) exitedOnceRead(t *tracked, o outputOwner, e runc.Exit) {
	if !o.WaitOutputRead() {
		log.L.WithField("id", t.containerID).WithField("process", t.id).Info("no client is reading the process's output; reporting its exit with output unread")
	}
	s.mu.Lock()
	if t.draining != nil {
		t.draining = nil
		s.exited(t, e)
	}
	s.mu.Unlock()
	s.touch()
}

// releaseDrain records now the exit of t if it is held for the client to
// read the output, and reports whether it was. A Delete does so: the
// process is gone and whoever deletes it will not read. containerd, coming
// back after a restart, deletes a task whose shim lists no processes as
// leaked; were the exit still held, that Delete would fail as "running"
// and containerd would forget the bundle with the shim still up. s.mu is
// held.
func (s *service) releaseDrain(t *tracked) bool {
	if t == nil || t.draining == nil {
		return false
	}
	e := *t.draining
	t.draining = nil
	s.exited(t, e)
	return true
}

// exited records e for t; s.mu is held.
func (s *service) exited(t *tracked, e runc.Exit) {
	t.target.SetExited(e.Status, e.Timestamp)
	if t.startPublished {
		s.publishExit(t, e)
		return
	}
	t.pending = &e
}

// publishExit sends the exit of t, except that an init's exit waits for
// the exits of its container's execs: a client seeing the container stop
// must not then hear of processes still running in it. s.mu is held.
func (s *service) publishExit(t *tracked, e runc.Exit) {
	if t.c == nil {
		s.sendExit(t, e)
		return
	}
	if t.isInit {
		if t.c.runningExecs() > 0 {
			t.c.heldInitExit = &e
			return
		}
		s.sendExit(t, e)
		return
	}
	s.sendExit(t, e)
	if held := t.c.heldInitExit; held != nil && t.c.runningExecs() == 0 {
		t.c.heldInitExit = nil
		s.sendExit(t.c.track, *held)
	}
}

func (s *service) sendExit(t *tracked, e runc.Exit) {
	if t.c != nil {
		// The kills the OOM notifications have not told of yet go
		// out before the exit: containerd's CRI reads the exit reason
		// from them.
		s.exitOOM(t.c, t.isInit)
	}
	s.send(&eventsapi.TaskExit{
		ContainerID: t.containerID,
		ID:          t.id,
		Pid:         uint32(t.pid),
		ExitStatus:  uint32(e.Status),
		ExitedAt:    timestamppb.New(e.Timestamp),
	})
}

func (s *service) rememberUnclaimed(e runc.Exit) {
	if len(s.unclaimed) >= unclaimedLimit {
		oldest := e
		for pid, u := range s.unclaimed {
			if u.Timestamp.Before(oldest.Timestamp) {
				oldest = u
				oldest.Pid = pid
			}
		}
		delete(s.unclaimed, oldest.Pid)
	}
	s.unclaimed[e.Pid] = e
}

// register starts watching t. An exit reaped after since, before this call,
// belongs to t; an older one for the same pid is a reused pid's.
func (s *service) register(t *tracked, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.unclaimed[t.pid]; ok {
		delete(s.unclaimed, t.pid)
		if !e.Timestamp.Before(since) {
			s.deliverExit(t, e)
			return
		}
	}
	s.byPid[t.pid] = t
}

// published sends the start event of t, then its exit if that came first.
func (s *service) published(t *tracked, start proto.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.send(start)
	t.startPublished = true
	if t.isInit && t.c != nil {
		s.initStartedOOM(t.c)
	}
	if t.pending != nil {
		e := *t.pending
		t.pending = nil
		s.publishExit(t, e)
	}
}

// send queues an event; the forwarder publishes them in this order.
func (s *service) send(e proto.Message) {
	s.events <- e
}
