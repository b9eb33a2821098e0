package service

import (
	"context"
	"sync"
	"testing"
	"time"

	eventsapi "github.com/containerd/containerd/api/events"
	runc "github.com/containerd/go-runc"

	taskapi "github.com/raind/raind/service/taskv3"
)

type fakeProc struct {
	mu   sync.Mutex
	code int
	n    int
}

func (f *fakeProc) SetExited(code int, _ time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.code = code
	f.n++
}

func newTestService() *service {
	s := &service{
		byPid:     map[int]*tracked{},
		unclaimed: map[int]runc.Exit{},
		ec:        make(chan runc.Exit),
		events:    make(chan any, 16),
		active:    make(chan struct{}, 1),
	}
	go s.processExits()
	return s
}

func nextEvent(t *testing.T, s *service) any {
	t.Helper()
	select {
	case e := <-s.events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return nil
}

func noEvent(t *testing.T, s *service) {
	t.Helper()
	select {
	case e := <-s.events:
		t.Fatalf("unexpected event %T", e)
	case <-time.After(50 * time.Millisecond):
	}
}

// An exit reaped before the start event is out waits for it.
func TestExitBeforeStartWaits(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	p := &fakeProc{}
	tr := &tracked{containerID: "c", id: "c", pid: 100, target: p}
	s.register(tr, time.Now())
	s.ec <- runc.Exit{Pid: 100, Status: 3, Timestamp: time.Now()}
	noEvent(t, s)
	s.published(tr, &eventsapi.TaskStart{ContainerID: "c", Pid: 100})
	if _, ok := nextEvent(t, s).(*eventsapi.TaskStart); !ok {
		t.Fatal("first event is not TaskStart")
	}
	ex, ok := nextEvent(t, s).(*eventsapi.TaskExit)
	if !ok || ex.ExitStatus != 3 || ex.Pid != 100 {
		t.Fatalf("second event %+v", ex)
	}
	noEvent(t, s)
	if p.n != 1 || p.code != 3 {
		t.Fatalf("SetExited %d times, code %d", p.n, p.code)
	}
}

func TestExitAfterStart(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	p := &fakeProc{}
	tr := &tracked{containerID: "c", id: "c", pid: 101, target: p}
	s.register(tr, time.Now())
	s.published(tr, &eventsapi.TaskStart{ContainerID: "c", Pid: 101})
	nextEvent(t, s)
	s.ec <- runc.Exit{Pid: 101, Status: 0, Timestamp: time.Now()}
	if _, ok := nextEvent(t, s).(*eventsapi.TaskExit); !ok {
		t.Fatal("no TaskExit")
	}
	// A second exit for a reused pid is not this process's.
	s.ec <- runc.Exit{Pid: 101, Status: 9, Timestamp: time.Now()}
	noEvent(t, s)
	if p.n != 1 {
		t.Fatalf("SetExited %d times", p.n)
	}
}

// An exit reaped before register belongs to the process only if it is
// newer than the spawn.
func TestUnclaimedExits(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	stale := time.Now()
	s.ec <- runc.Exit{Pid: 200, Status: 1, Timestamp: stale}
	since := time.Now()
	fresh := since.Add(time.Millisecond)
	s.ec <- runc.Exit{Pid: 201, Status: 2, Timestamp: fresh}
	// The exit loop handles the sends in order; a further send syncs.
	s.ec <- runc.Exit{Pid: 999, Timestamp: fresh}

	old := &fakeProc{}
	s.register(&tracked{pid: 200, target: old}, since)
	if old.n != 0 {
		t.Fatal("a stale exit was claimed")
	}
	s.mu.Lock()
	_, watching := s.byPid[200]
	s.mu.Unlock()
	if !watching {
		t.Fatal("pid 200 is not watched after register")
	}
	early := &fakeProc{}
	tr := &tracked{containerID: "c", id: "c", pid: 201, target: early}
	s.register(tr, since)
	if early.n != 1 || early.code != 2 {
		t.Fatalf("early exit not claimed: %+v", early)
	}
	noEvent(t, s)
	s.published(tr, &eventsapi.TaskStart{})
	nextEvent(t, s)
	if _, ok := nextEvent(t, s).(*eventsapi.TaskExit); !ok {
		t.Fatal("no TaskExit after start")
	}
}

func TestUnclaimedBounded(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	base := time.Now()
	for i := 0; i < unclaimedLimit+10; i++ {
		s.ec <- runc.Exit{Pid: 1000 + i, Timestamp: base.Add(time.Duration(i) * time.Microsecond)}
	}
	s.ec <- runc.Exit{Pid: 1, Timestamp: base.Add(time.Hour)}
	s.mu.Lock()
	n := len(s.unclaimed)
	_, oldest := s.unclaimed[1000]
	s.mu.Unlock()
	if n > unclaimedLimit || oldest {
		t.Fatalf("%d unclaimed kept, oldest kept %v", n, oldest)
	}
}

// TestActivityIsSignalled: requests and exits tell the daemon the shim is
// busy, so that it collects garbage once the shim goes quiet.
func TestActivityIsSignalled(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	s.containers = map[string]*container{}
	expect := func(what string) {
		t.Helper()
		select {
		case <-s.active:
		case <-time.After(5 * time.Second):
			t.Fatalf("no activity after %s", what)
		}
	}
	idle := func(what string) {
		t.Helper()
		select {
		case <-s.active:
			t.Fatalf("activity with %s", what)
		default:
		}
	}
	idle("nothing done")
	// Even a failed request counts: it allocated.
	client := serveTest(t, s)
	if _, err := client.State(context.Background(), &taskapi.StateRequest{Id: "none"}); err == nil {
		t.Fatal("State of a missing container succeeded")
	}
	expect("a request")
	s.ec <- runc.Exit{Pid: 4242, Status: 1}
	expect("an exit")
	// Many events make one token, and touch never blocks.
	for range 100 {
		s.touch()
	}
	expect("touches")
	idle("the token taken")
}

// readProc is a process whose client has not read its output until read
// is closed.
type readProc struct {
	fakeProc
	read chan struct{}
}

func (r *readProc) UnreadOutput() int {
	select {
	case <-r.read:
		return 0
	default:
		return 1
	}
}

func (r *readProc) WaitOutputRead() bool {
	<-r.read
	return true
}

// A process that wrote its client's FIFO itself exits, for the client,
// only once the client has read that output; meanwhile other exits go on.
func TestExitWaitsForOutputRead(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	slow := &readProc{read: make(chan struct{})}
	ts := &tracked{containerID: "a", id: "a", pid: 100, target: slow, startPublished: true}
	s.register(ts, time.Now())
	other := &fakeProc{}
	to := &tracked{containerID: "b", id: "b", pid: 101, target: other, startPublished: true}
	s.register(to, time.Now())

	s.ec <- runc.Exit{Pid: 100, Status: 1, Timestamp: time.Now()}
	s.ec <- runc.Exit{Pid: 101, Status: 2, Timestamp: time.Now()}
	if ex, ok := nextEvent(t, s).(*eventsapi.TaskExit); !ok || ex.ContainerID != "b" {
		t.Fatalf("first event %+v, want b's exit", ex)
	}
	noEvent(t, s)
	slow.mu.Lock()
	n := slow.n
	slow.mu.Unlock()
	if n != 0 {
		t.Fatal("exit recorded while the output was unread")
	}
	close(slow.read)
	if ex, ok := nextEvent(t, s).(*eventsapi.TaskExit); !ok || ex.ContainerID != "a" || ex.ExitStatus != 1 {
		t.Fatalf("event %+v, want a's exit", ex)
	}
}

// A process can exit before it is registered (a quick exec on a loaded
// machine); its output must be waited for all the same.
func TestEarlyExitWaitsForOutputRead(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	since := time.Now()
	s.ec <- runc.Exit{Pid: 300, Status: 0, Timestamp: time.Now()}
	// The exit loop files it as unclaimed; wait until it has.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		_, filed := s.unclaimed[300]
		s.mu.Unlock()
		if filed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("exit not filed as unclaimed")
		}
		time.Sleep(time.Millisecond)
	}
	p := &readProc{read: make(chan struct{})}
	tr := &tracked{containerID: "c", id: "x", pid: 300, target: p, startPublished: true}
	s.register(tr, since)
	noEvent(t, s)
	close(p.read)
	if ex, ok := nextEvent(t, s).(*eventsapi.TaskExit); !ok || ex.ID != "x" {
		t.Fatalf("event %+v, want x's exit", ex)
	}
}

// An exit held for the client to read is recorded at once when the task is
// deleted (containerd deletes a task it takes for leaked after a restart,
// with nobody reading), and only once: the reader's later return changes
// nothing.
func TestDeleteReleasesHeldExit(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	slow := &readProc{read: make(chan struct{})}
	tr := &tracked{containerID: "a", id: "a", pid: 100, target: slow, startPublished: true}
	s.register(tr, time.Now())
	s.mu.Lock()
	if s.releaseDrain(tr) {
		t.Fatal("released an exit before there was one")
	}
	s.mu.Unlock()
	s.ec <- runc.Exit{Pid: 100, Status: 7, Timestamp: time.Now()}
	noEvent(t, s)
	s.mu.Lock()
	released := s.releaseDrain(tr)
	s.mu.Unlock()
	if !released {
		t.Fatal("the held exit was not released")
	}
	if ex, ok := nextEvent(t, s).(*eventsapi.TaskExit); !ok || ex.ExitStatus != 7 {
		t.Fatalf("event %+v, want the exit with 7", ex)
	}
	close(slow.read)
	noEvent(t, s)
	time.Sleep(50 * time.Millisecond)
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if slow.n != 1 || slow.code != 7 {
		t.Fatalf("SetExited %d times, code %d", slow.n, slow.code)
	}
}
