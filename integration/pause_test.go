package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	eventsapi "github.com/containerd/containerd/api/events"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// TestPauseResume: Pause freezes the container (the v1 freezer says
// FROZEN), State says paused, an exec is refused as with the runc shim,
// TaskPaused and TaskResumed are published; Resume thaws it; a SIGKILL
// ends a paused container and it can be deleted.
func TestPauseResume(t *testing.T) {
	freezerRoot := "/sys/fs/cgroup/freezer"
	if _, err := os.Stat(freezerRoot); err != nil {
		t.Skip("no cgroup v1 freezer: the v2 freeze is tested in runtime/cgroups")
	}
	ctx, ctr, task := runningContainer(t)
	c := newClient(t)
	evs, errs := c.Subscribe(ctx, `topic~="/tasks/(paused|resumed)"`)
	spec, err := ctr.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(freezerRoot, spec.Linux.CgroupsPath, "freezer.state")
	freezer := func() string {
		b, _ := os.ReadFile(state)
		return strings.TrimSpace(string(b))
	}

	if err := task.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := task.Status(ctx); err != nil || st.Status != containerd.Paused {
		t.Fatalf("status after Pause: %+v %v", st, err)
	}
	if f := freezer(); f != "FROZEN" {
		t.Fatalf("freezer.state %q after Pause", f)
	}
	if err := task.Pause(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("second Pause: %v", err)
	}
	p := *spec.Process
	p.Args = []string{"true"}
	if _, err := task.Exec(ctx, newID("paused-exec"), &p, cio.NullIO); err == nil || !strings.Contains(err.Error(), "paused") {
		t.Errorf("exec into a paused container: %v", err)
	}
	if err := task.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := task.Status(ctx); st.Status != containerd.Running || freezer() != "THAWED" {
		t.Fatalf("after Resume: status %v, freezer %q", st.Status, freezer())
	}
	if r := execRun(t, ctx, task, nil, "echo", "thawed"); r.stdout != "thawed\n" {
		t.Fatalf("exec after Resume: %+v", r)
	}
	for _, want := range []string{"/tasks/paused", "/tasks/resumed"} {
		select {
		case e := <-evs:
			v, err := typeurl.UnmarshalAny(e.Event)
			if err != nil || e.Topic != want {
				t.Fatalf("event %s %v, want %s", e.Topic, err, want)
			}
			switch ev := v.(type) {
			case *eventsapi.TaskPaused:
				if ev.ContainerID != ctr.ID() {
					t.Errorf("TaskPaused for %q", ev.ContainerID)
				}
			case *eventsapi.TaskResumed:
				if ev.ContainerID != ctr.ID() {
					t.Errorf("TaskResumed for %q", ev.ContainerID)
				}
			}
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}

	// A paused container dies of SIGKILL and can be deleted.
	if err := task.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	killAndWait(t, ctx, task, "a paused container")
	if _, err := task.Delete(ctx); err != nil {
		t.Fatalf("delete after kill: %v", err)
	}
}

// killAndWait sends SIGKILL (with opts, e.g. WithKillAll) and fails the
// test unless the task exits 137 within 20 s; what names the case.
func killAndWait(t *testing.T, ctx context.Context, task containerd.Task, what string, opts ...containerd.KillOpts) {
	t.Helper()
	ch, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Kill(ctx, syscall.SIGKILL, opts...); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-ch:
		if st.ExitCode() != 137 {
			t.Errorf("%s: exit %d after SIGKILL, want 137", what, st.ExitCode())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: survived SIGKILL", what)
	}
}
