package process

import (
	"fmt"
	"sync"
	"time"

	"github.com/containerd/errdefs"
)

// Status is where a process is in its lifecycle.
type Status int

// The lifecycle; transitions only go forward.
const (
	Created Status = iota
	Running
	Stopped
	Deleted
)

func (s Status) String() string {
	switch s {
	case Created:
		return "created"
	case Running:
		return "running"
	case Stopped:
		return "stopped"
	case Deleted:
		return "deleted"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// lifecycle is the state shared by init and exec processes.
type lifecycle struct {
	mu       sync.Mutex
	status   Status
	exitCode int
	exitedAt time.Time
	exited   chan struct{}
}

func newLifecycle() lifecycle {
	return lifecycle{exited: make(chan struct{})}
}

// Status returns the current status.
func (l *lifecycle) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// Exit returns the exit status and time; valid once Done is closed.
func (l *lifecycle) Exit() (int, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.exitCode, l.exitedAt
}

// Done is closed when the process has exited.
func (l *lifecycle) Done() <-chan struct{} { return l.exited }

// SetExited records the exit reported by the reaper. It happens once.
func (l *lifecycle) SetExited(code int, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.status >= Stopped {
		return
	}
	l.status = Stopped
	l.exitCode = code
	l.exitedAt = at
	close(l.exited)
}

// transition moves from one of the allowed states to next.
func (l *lifecycle) transition(next Status, from ...Status) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range from {
		if l.status == f {
			l.status = next
			return nil
		}
	}
	return fmt.Errorf("process is %s, cannot become %s: %w", l.status, next, errdefs.ErrFailedPrecondition)
}
