package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// OOMEvents on v1 waits on the library's eventfd for memory.oom_control,
// which the kernel signals on every OOM in the cgroup and once more when
// the cgroup is removed.
func (c *v1) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	fd, err := c.cg.OOMEventFD()
	if err != nil {
		if errors.Is(err, cgroup1.ErrMemoryNotSupported) {
			return nil, notImplemented("OOM events without the v1 memory hierarchy")
		}
		return nil, fmt.Errorf("OOM events of %s: %w", c.path, libError(deleted(err)))
	}
	// Non-blocking, the file is read through the runtime's poller, so
	// that a deadline can end the read when ctx is done.
	if err := unix.SetNonblock(int(fd), true); err != nil {
		unix.Close(int(fd))
		return nil, fmt.Errorf("OOM eventfd of %s: %w", c.path, err)
	}
	f := os.NewFile(fd, "oom eventfd "+c.path)
	dir := c.dir(cgroup1.Memory)
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		defer f.Close()
		stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
		defer stop()
		buf := make([]byte, 8)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			if _, err := os.Lstat(dir); notExist(err) || ctx.Err() != nil {
				return
			}
			select {
			case ch <- struct{}{}:
			default: // one pending event stands for several
			}
		}
	}()
	return ch, nil
}

// OOMEvents on v2 follows the library's EventChan, which watches
// memory.events with inotify, and reports each rise of its oom_kill count.
//
// The library's watcher cannot be stopped: it ends only when the cgroup is
// empty or removed, and blocks sending on its channel if nobody reads. So
// after ctx is done the events are still drained, until the cgroup empties
// (Delete requires that), and only the channel returned here is closed at
// once. Report upstream: EventChan should take a context.
func (c *v2) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	events, err := readFile(c.dir, "memory.events")
	if err != nil {
		if notExist(err) {
			if _, serr := os.Stat(c.dir); notExist(serr) {
				return nil, fmt.Errorf("cgroup %s: %w", c.path, errdefs.ErrNotFound)
			}
			return nil, notImplemented("OOM events without the v2 memory controller")
		}
		return nil, fmt.Errorf("OOM events of %s: %w", c.path, err)
	}
	last, _ := strconv.ParseUint(eventValue(events, "oom_kill"), 10, 64)
	ec, errc := c.m.EventChan()
	// A watch that could not be set up reports it at once, and then
	// leaves no goroutine behind.
	select {
	case err := <-errc:
		return nil, fmt.Errorf("watch %s: %w", filepath.Join(c.dir, "memory.events"), err)
	default:
	}
	ch := make(chan struct{}, 1)
	go func() {
		out := ch
		defer func() {
			if out != nil {
				close(out)
			}
		}()
		handle := func(e cgroup2.Event) {
			if e.OOMKill <= last {
				return
			}
			last = e.OOMKill
			if out != nil {
				select {
				case out <- struct{}{}:
				default: // one pending event stands for several
				}
			}
		}
		done := ctx.Done()
		for {
			select {
			case e := <-ec:
				handle(e)
			case _, ok := <-errc:
				if !ok {
					// The watcher's last event, if any, was
					// sent before it ended.
					select {
					case e := <-ec:
						handle(e)
					default:
					}
					return
				}
			case <-done:
				close(out)
				out, done = nil, nil
			}
		}
	}()
	return ch, nil
}

// OOMKills reads the oom_kill line of memory.oom_control, which kernels
// before 4.13 do not have.
func (c *v1) OOMKills() (uint64, error) {
	dir := c.dir(cgroup1.Memory)
	if dir == "" {
		return 0, notImplemented("OOM kill count without the v1 memory hierarchy")
	}
	return oomKillCount(dir, "memory.oom_control")
}

// OOMKills reads the oom_kill line of memory.events.
func (c *v2) OOMKills() (uint64, error) {
	return oomKillCount(c.dir, "memory.events")
}

// oomKillCount parses the "oom_kill N" line of file in dir.
func oomKillCount(dir, file string) (uint64, error) {
	s, err := readFile(dir, file)
	if err != nil {
		if notExist(err) {
			if _, serr := os.Stat(dir); notExist(serr) {
				return 0, fmt.Errorf("cgroup %s: %w", dir, errdefs.ErrNotFound)
			}
			return 0, notImplemented(filepath.Join(dir, file))
		}
		return 0, fmt.Errorf("OOM kill count: %w", err)
	}
	v := eventValue(s, "oom_kill")
	if v == "" {
		return 0, notImplemented("oom_kill in " + filepath.Join(dir, file))
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("oom_kill %q in %s: %v: %w", v, filepath.Join(dir, file), err, errdefs.ErrInternal)
	}
	return n, nil
}
