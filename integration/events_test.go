package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/typeurl/v2"
)

// TestEventOrder runs /bin/true 100 times and checks that each container
// sees create, start, exit, delete, in that order, with one exit.
func TestEventOrder(t *testing.T) {
	const runs = 100
	ctx := testCtx(t, 5*time.Minute)
	c := newClient(t)
	prefix := newID("ev")
	evctx, stop := context.WithCancel(ctx)
	defer stop()
	envCh, errCh := c.Subscribe(evctx, `topic~="/tasks/"`)
	var mu sync.Mutex
	seen := map[string][]string{}
	done := make(chan struct{})
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
				case *apievents.TaskExit:
					id, kind = ev.ContainerID, "exit"
				case *apievents.TaskDelete:
					id, kind = ev.ContainerID, "delete"
				default:
					continue
				}
				if strings.HasPrefix(id, prefix) {
					mu.Lock()
					seen[id] = append(seen[id], kind)
					mu.Unlock()
				}
			case <-errCh:
				return
			case <-evctx.Done():
				return
			}
		}
	}()
	for i := 0; i < runs; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		ctr, err := c.NewContainer(ctx, id, containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("/bin/true")), containerd.WithRuntime(runtimeName, nil))
		if err != nil {
			t.Fatal(err)
		}
		task, err := ctr.NewTask(ctx, cio.NullIO)
		if err != nil {
			t.Fatal(err)
		}
		ch, _ := task.Wait(ctx)
		if err := task.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if code, _, _ := (<-ch).Result(); code != 0 {
			t.Fatalf("run %d: exit %d", i, code)
		}
		if _, err := task.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ctr.Delete(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The last events may still be on their way.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(seen[fmt.Sprintf("%s-%d", prefix, runs-1)])
		mu.Unlock()
		if n >= 4 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	<-done
	want := "create start exit delete"
	if len(seen) != runs {
		t.Fatalf("events for %d containers, want %d", len(seen), runs)
	}
	for id, kinds := range seen {
		if got := strings.Join(kinds, " "); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
}
