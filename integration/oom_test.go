package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// oomLimit is the memory limit of the tests' OOM victims: small enough to
// be hit at once, big enough for busybox to start.
const oomLimit = 32 << 20

// oomCommand grows without bound: tail keeps the last lines of /dev/zero,
// which has none, so it buffers all it reads.
var oomCommand = []string{"tail", "/dev/zero"}

// withOOMLimit sets the memory limit and, where the kernel accounts swap,
// an equal memory+swap limit, so that the container cannot escape into
// swap and is OOM-killed.
func withOOMLimit() oci.SpecOpts {
	return specEdit(func(s *specs.Spec) {
		limit := int64(oomLimit)
		mem := &specs.LinuxMemory{Limit: &limit}
		if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
			swap := limit
			mem.Swap = &swap
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		s.Linux.Resources.Memory = mem
	})
}

// taskEvent is one task event of a container, as containerd received it.
type taskEvent struct {
	kind string
	at   time.Time
}

// taskEvents records the task events of containers whose id has prefix.
type taskEvents struct {
	mu   sync.Mutex
	seen map[string][]taskEvent
}

func subscribeTaskEvents(t *testing.T, ctx context.Context, c *containerd.Client, prefix string) *taskEvents {
	t.Helper()
	evctx, stop := context.WithCancel(ctx)
	envCh, errCh := c.Subscribe(evctx, `topic~="/tasks/"`)
	r := &taskEvents{seen: map[string][]taskEvent{}}
	done := make(chan struct{})
	t.Cleanup(func() { stop(); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case e := <-envCh:
				v, err := typeurl.UnmarshalAny(e.Event)
				if err != nil {
					continue
				}
				var id, kind string
				switch ev := v.(type) {
				case *apievents.TaskCreate:
					id, kind = ev.ContainerID, "create"
				case *apievents.TaskStart:
					id, kind = ev.ContainerID, "start"
				case *apievents.TaskOOM:
					id, kind = ev.ContainerID, "oom"
				case *apievents.TaskExit:
					id, kind = ev.ContainerID, "exit"
					if ev.ID != ev.ContainerID {
						kind = "exec-exit"
					}
				case *apievents.TaskDelete:
					id, kind = ev.ContainerID, "delete"
				default:
					continue
				}
				if strings.HasPrefix(id, prefix) {
					r.mu.Lock()
					r.seen[id] = append(r.seen[id], taskEvent{kind, e.Timestamp})
					r.mu.Unlock()
				}
			case <-errCh:
				return
			case <-evctx.Done():
				return
			}
		}
	}()
	return r
}

// waitFor returns the events of id once the last is kind, or at the
// deadline.
func (r *taskEvents) waitFor(id, kind string) []taskEvent {
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		evs := append([]taskEvent(nil), r.seen[id]...)
		r.mu.Unlock()
		if (len(evs) > 0 && evs[len(evs)-1].kind == kind) || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func kinds(evs []taskEvent) string {
	var k []string
	for _, e := range evs {
		k = append(k, e.kind)
	}
	return strings.Join(k, " ")
}

// runOOM runs args in a container with the OOM limit, in the shim of
// group, until it exits, deletes it and returns its exit code.
func runOOM(t *testing.T, ctx context.Context, c *containerd.Client, id, group string, args ...string) uint32 {
	t.Helper()
	ctr, err := c.NewContainer(ctx, id, containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs(args...), withOOMLimit(), withSandbox(group)),
		containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx))
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	ch, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var st containerd.ExitStatus
	select {
	case st = <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("%s still running after a minute", id)
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	return st.ExitCode()
}

// TestOOMEvent: a container the kernel OOM-kills gets one TaskOOM, before
// its TaskExit, whether the victim is its init (exit 137) or a child of it
// (the init exits as it likes). The containers share a shim with a
// long-running one, and the shim keeps no goroutine or fd of theirs.
func TestOOMEvent(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		t.Skip("no cgroup v1 memory controller: the v2 path is tested on the fake cgroupfs")
	}
	ctx := testCtx(t, 5*time.Minute)
	c := newClient(t)
	prefix := newID("oom")
	events := subscribeTaskEvents(t, ctx, c, prefix)
	group := prefix + "-pod"
	_, shim := anchor(t, ctx, group)

	cases := []struct {
		name string
		args []string
		code uint32
	}{
		{"init", oomCommand, 137},
		{"child", []string{"sh", "-c", strings.Join(oomCommand, " ") + "; exit 3"}, 3},
	}
	run := func(round int) {
		for _, tc := range cases {
			id := fmt.Sprintf("%s-%s-%d", prefix, tc.name, round)
			if code := runOOM(t, ctx, c, id, group, tc.args...); code != tc.code {
				t.Errorf("%s: exit %d, want %d", id, code, tc.code)
			}
			evs := events.waitFor(id, "delete")
			if got, want := kinds(evs), "create start oom exit delete"; got != want {
				t.Errorf("%s: events %q, want %q", id, got, want)
				continue
			}
			if round == 0 {
				t.Logf("%s: TaskOOM at %s, TaskExit at %s (%s later)", id, evs[2].at.Format(time.RFC3339Nano),
					evs[3].at.Format(time.RFC3339Nano), evs[3].at.Sub(evs[2].at))
			}
		}
	}
	run(0) // also warms up what the shim makes once
	before := usage(t, shim)
	for round := 1; round <= 3; round++ {
		run(round)
	}
	assertFlat(t, "6 OOM-killed containers", before, usage(t, shim))
}
