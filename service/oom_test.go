package service

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	eventsapi "github.com/containerd/containerd/api/events"
	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	"google.golang.org/protobuf/proto"
)

// fakeOOM is a cgroup whose kills the test makes: kill raises the count
// and, if asked, notifies, as the kernel does in either order.
type fakeOOM struct {
	mu        sync.Mutex
	kills     uint64
	countErr  error
	eventsErr error
	ctx       context.Context // of the watch
	notify    chan struct{}
	ended     chan struct{} // closed when the notifying goroutine returns
}

func newFakeOOM() *fakeOOM {
	return &fakeOOM{notify: make(chan struct{}, 1), ended: make(chan struct{})}
}

func (f *fakeOOM) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	if f.eventsErr != nil {
		return nil, f.eventsErr
	}
	f.mu.Lock()
	f.ctx = ctx
	f.mu.Unlock()
	ch := make(chan struct{}, 1)
	go func() {
		defer close(f.ended)
		defer close(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-f.notify:
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch, nil
}

func (f *fakeOOM) OOMKills() (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kills, f.countErr
}

// kill counts a kill; notify also sends its notification.
func (f *fakeOOM) kill(notify bool) {
	f.mu.Lock()
	f.kills++
	f.mu.Unlock()
	if notify {
		f.notify <- struct{}{}
	}
}

// oomContainer is a container "c" with its init (pid 100) registered and
// watched through src.
func oomContainer(t *testing.T, s *service, src oomSource) (*container, *tracked) {
	t.Helper()
	c := &container{execs: map[string]*execEntry{}}
	tr := &tracked{containerID: "c", id: "c", pid: 100, target: &fakeProc{}, c: c, isInit: true}
	c.track = tr
	s.mu.Lock()
	if s.containers == nil {
		s.containers = map[string]*container{}
	}
	s.containers["c"] = c
	s.mu.Unlock()
	s.register(tr, time.Now())
	s.watchOOM(context.Background(), "c", c, src)
	// A failed test must not leave its watch to the next one's count.
	t.Cleanup(func() {
		s.mu.Lock()
		w := detachOOM(c)
		s.mu.Unlock()
		if w != nil {
			w.stop(context.Background(), "c", time.Now().Add(5*time.Second))
		}
	})
	return c, tr
}

// exitNow delivers the exit of t as processExits does (which would also
// look at the init's pid namespace, which these containers lack).
func exitNow(s *service, t *tracked, status int) {
	s.mu.Lock()
	delete(s.byPid, t.pid)
	s.deliverExit(t, runc.Exit{Pid: t.pid, Status: status, Timestamp: time.Now()})
	s.mu.Unlock()
}

// events takes the events queued until none comes for a moment, named by
// topic, a TaskOOM as "oom".
func events(t *testing.T, s *service) []string {
	t.Helper()
	var names []string
	for {
		select {
		case e := <-s.events:
			switch e := e.(type) {
			case *eventsapi.TaskOOM:
				if e.ContainerID != "c" {
					t.Errorf("TaskOOM for %q", e.ContainerID)
				}
				names = append(names, "oom")
			case proto.Message:
				names = append(names, topic(e))
			}
		case <-time.After(100 * time.Millisecond):
			return names
		}
	}
}

func expectEvents(t *testing.T, s *service, want ...string) {
	t.Helper()
	if got := events(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// A kill whose notification comes after the victim's exit is published,
// from the kernel's count, before the TaskExit; the late notification
// then adds nothing.
func TestOOMCountedAtExitBeforeTaskExit(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	src := newFakeOOM()
	_, tr := oomContainer(t, s, src)
	s.published(tr, &eventsapi.TaskStart{ContainerID: "c", Pid: 100})
	expectEvents(t, s, "/tasks/start")

	src.kill(false)
	exitNow(s, tr, 137)
	src.notify <- struct{}{}
	expectEvents(t, s, "oom", "/tasks/exit")
}

// One kill is one TaskOOM, however many notifications and checks see it;
// a notification without a new kill (v1 signals being under OOM) is none.
func TestOOMNoDuplicates(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	src := newFakeOOM()
	_, tr := oomContainer(t, s, src)
	s.published(tr, &eventsapi.TaskStart{ContainerID: "c", Pid: 100})
	expectEvents(t, s, "/tasks/start")

	src.kill(true)
	expectEvents(t, s, "oom")
	src.notify <- struct{}{}
	expectEvents(t, s)
	src.kill(true)
	expectEvents(t, s, "oom")
	exitNow(s, tr, 137)
	expectEvents(t, s, "/tasks/exit")
}

// A kill before the init's TaskStart is out waits for it; so does the
// exit, after the kill.
func TestOOMBeforeStartWaits(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	src := newFakeOOM()
	_, tr := oomContainer(t, s, src)
	src.kill(true)
	exitNow(s, tr, 137)
	expectEvents(t, s)
	s.published(tr, &eventsapi.TaskStart{ContainerID: "c", Pid: 100})
	expectEvents(t, s, "/tasks/start", "oom", "/tasks/exit")
}

// An exec killed by the OOM killer has its TaskOOM before its TaskExit,
// and the init's exit brings no second one.
func TestOOMBeforeExecExit(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	src := newFakeOOM()
	c, tr := oomContainer(t, s, src)
	s.published(tr, &eventsapi.TaskStart{ContainerID: "c", Pid: 100})
	et := &tracked{containerID: "c", id: "x", pid: 101, target: &fakeProc{}, c: c}
	s.register(et, time.Now())
	s.published(et, &eventsapi.TaskExecStarted{ContainerID: "c", ExecID: "x", Pid: 101})
	expectEvents(t, s, "/tasks/start", "/tasks/exec-started")

	src.kill(false)
	exitNow(s, et, 137)
	expectEvents(t, s, "oom", "/tasks/exit")
	exitNow(s, tr, 0)
	expectEvents(t, s, "/tasks/exit")
}

// Without the kernel's count each notification is a TaskOOM, and kills
// counted before the watch are not the container's.
func TestOOMWithoutCount(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	src := newFakeOOM()
	src.countErr = fmt.Errorf("oom_kill in memory.oom_control: %w", errdefs.ErrNotImplemented)
	_, tr := oomContainer(t, s, src)
	s.published(tr, &eventsapi.TaskStart{ContainerID: "c", Pid: 100})
	expectEvents(t, s, "/tasks/start")
	src.kill(true)
	expectEvents(t, s, "oom")
	src.kill(false) // not notified: nothing to go by
	exitNow(s, tr, 137)
	expectEvents(t, s, "/tasks/exit")

	s2 := newTestService()
	defer close(s2.ec)
	old := newFakeOOM()
	old.kills = 3
	_, tr2 := oomContainer(t, s2, old)
	s2.published(tr2, &eventsapi.TaskStart{ContainerID: "c", Pid: 100})
	exitNow(s2, tr2, 0)
	expectEvents(t, s2, "/tasks/start", "/tasks/exit")
}

// A container without a memory controller gets no watch and runs as any.
func TestOOMNoMemoryController(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	src := newFakeOOM()
	src.eventsErr = fmt.Errorf("OOM events without the v1 memory hierarchy: %w", errdefs.ErrNotImplemented)
	c, tr := oomContainer(t, s, src)
	if c.oom != nil {
		t.Fatal("a watch without OOM events")
	}
	s.published(tr, &eventsapi.TaskStart{ContainerID: "c", Pid: 100})
	exitNow(s, tr, 0)
	expectEvents(t, s, "/tasks/start", "/tasks/exit")
}

// watchGoroutines counts the running goroutines of OOM watches: the
// service's and the fake source's, goleak-style from a stack dump.
func watchGoroutines() int {
	buf := make([]byte, 1<<20)
	dump := string(buf[:runtime.Stack(buf, true)])
	n := 0
	for _, g := range strings.Split(dump, "\n\n") {
		if strings.Contains(g, "(*service).watchOOM.func") || strings.Contains(g, "(*fakeOOM).OOMEvents.func") {
			n++
		}
	}
	return n
}

// watchGoroutinesEnd waits until no OOM watch goroutine runs.
func watchGoroutinesEnd(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for watchGoroutines() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d OOM watch goroutines left", watchGoroutines())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Delete ends the watch: its goroutine and the source's (the eventfd's
// reader in the real one) are gone, and nothing is published after the
// TaskDelete.
func TestOOMWatchEndsOnDelete(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	watchGoroutinesEnd(t)
	src := newFakeOOM()
	c, tr := oomContainer(t, s, src)
	if got := watchGoroutines(); got != 2 {
		t.Fatalf("%d goroutines watching, want 2", got)
	}
	s.published(tr, &eventsapi.TaskStart{ContainerID: "c", Pid: 100})
	expectEvents(t, s, "/tasks/start")

	// As Delete does it, for a task that never exited.
	s.mu.Lock()
	w := detachOOM(c)
	s.mu.Unlock()
	w.stop(context.Background(), "c", time.Now().Add(5*time.Second))
	select {
	case <-w.done:
	default:
		t.Fatal("watcher goroutine still running after stop")
	}
	select {
	case <-src.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the source's goroutine is still running: its context was not cancelled")
	}
	watchGoroutinesEnd(t)
	src.kill(false)
	src.notify <- struct{}{}
	exitNow(s, tr, 137)
	expectEvents(t, s, "/tasks/exit")
}

// The init's exit ends the watch too, and shutdown ends those left.
func TestOOMWatchEndsOnExitAndShutdown(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	watchGoroutinesEnd(t)
	src := newFakeOOM()
	c, tr := oomContainer(t, s, src)
	s.published(tr, &eventsapi.TaskStart{ContainerID: "c", Pid: 100})
	exitNow(s, tr, 0)
	select {
	case <-src.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("watch still running after the init's exit")
	}
	select {
	case <-c.oom.done:
	case <-time.After(5 * time.Second):
		t.Fatal("watcher goroutine still running after the init's exit")
	}

	other := newFakeOOM()
	c2 := &container{execs: map[string]*execEntry{}, track: &tracked{containerID: "d", id: "d"}}
	s.mu.Lock()
	s.containers["d"] = c2
	s.mu.Unlock()
	s.watchOOM(context.Background(), "d", c2, other)
	s.stopAllOOM(context.Background(), 5*time.Second)
	select {
	case <-other.ended:
	default:
		t.Fatal("watch still running after shutdown")
	}
	watchGoroutinesEnd(t)
}
