package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestExecTTYViaCtr(t *testing.T) {
	id := newID("xt")
	if _, errOut, code := runCtr(t, 30*time.Second, "", "run", "-d", "--runtime", runtimeName, "--rootfs", busyboxRootfs(t), id, "sleep", "1000"); code != 0 {
		t.Fatalf("run -d: %s", errOut)
	}
	t.Cleanup(func() {
		runCtr(t, 20*time.Second, "", "task", "kill", "-s", "SIGKILL", id)
		runCtr(t, 20*time.Second, "", "task", "delete", "-f", id)
		runCtr(t, 20*time.Second, "", "container", "rm", id)
	})
	waitRunning(t, id)
	tm := startTerm(t, "task", "exec", "-t", "--exec-id", "sh1", id, "/bin/sh")
	tm.send("tty; echo $((3*3))z\n")
	tm.expect("/dev/pts/")
	tm.expect("9z")
	tm.send("stty size\n")
	tm.expect("24 80")
	if err := setSize(tm, 33, 99); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	tm.send("stty size\n")
	tm.expect("33 99")
	tm.send("exit 4\n")
	if code := tm.wait(); code != 4 {
		t.Fatalf("exec exit %d, want 4", code)
	}
}

// execEvents records TaskExit events for container id, in order.
func execEvents(t *testing.T, ctx context.Context, c *containerd.Client, id string) func() []string {
	evctx, cancel := context.WithCancel(ctx)
	ch, errs := c.Subscribe(evctx, `topic=="/tasks/exit"`)
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case e := <-ch:
				v, err := typeurl.UnmarshalAny(e.Event)
				if err != nil {
					continue
				}
				if ex, ok := v.(*apievents.TaskExit); ok && ex.ContainerID == id {
					mu.Lock()
					got = append(got, ex.ID)
					mu.Unlock()
				}
			case <-errs:
				return
			case <-evctx.Done():
				return
			}
		}
	}()
	return func() []string {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

// TestInitExitAfterExecs: whatever the pid namespace, the execs die with
// init and their exits are published before init's.
func TestInitExitAfterExecs(t *testing.T) {
	for _, hostPid := range []bool{false, true} {
		t.Run(fmt.Sprintf("hostpid=%v", hostPid), func(t *testing.T) {
			ctx := testCtx(t, 2*time.Minute)
			c := newClient(t)
			id := newID("order")
			opts := []oci.SpecOpts{oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("sleep", "1000")}
			if hostPid {
				opts = append(opts, oci.WithHostNamespace(specs.PIDNamespace))
			}
			ctr, err := c.NewContainer(ctx, id, containerd.WithNewSpec(opts...), containerd.WithRuntime(runtimeName, nil))
			if err != nil {
				t.Fatal(err)
			}
			defer ctr.Delete(context.WithoutCancel(ctx))
			stop := execEvents(t, ctx, c, id)
			task, err := ctr.NewTask(ctx, cio.NullIO)
			if err != nil {
				t.Fatal(err)
			}
			defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
			initC, _ := task.Wait(ctx)
			if err := task.Start(ctx); err != nil {
				t.Fatal(err)
			}
			spec, _ := task.Spec(ctx)
			var execCs []<-chan containerd.ExitStatus
			for i := 0; i < 3; i++ {
				p := *spec.Process
				p.Args = []string{"sleep", "1000"}
				proc, err := task.Exec(ctx, fmt.Sprintf("e%d", i), &p, cio.NullIO)
				if err != nil {
					t.Fatal(err)
				}
				ch, _ := proc.Wait(ctx)
				execCs = append(execCs, ch)
				if err := proc.Start(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-initC
			for i, ch := range execCs {
				select {
				case st := <-ch:
					if st.ExitCode() != 137 {
						t.Errorf("exec %d: exit %d", i, st.ExitCode())
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("exec %d outlived init", i)
				}
			}
			time.Sleep(200 * time.Millisecond)
			got := stop()
			if len(got) != 4 || got[3] != id {
				t.Fatalf("exit events %v: want the three execs, then %s", got, id)
			}
		})
	}
}

func TestExecPreconditions(t *testing.T) {
	ctx, _, task := runningContainer(t)
	spec, _ := task.Spec(ctx)
	p := *spec.Process
	p.Args = []string{"sleep", "100"}
	never, err := task.Exec(ctx, "never", &p, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := never.Kill(ctx, syscall.SIGKILL); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("kill of an exec never started: %v", err)
	}
	// Two Exec calls racing for one id: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = task.Exec(ctx, "race", &p, cio.NullIO)
		}(i)
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || !(errdefs.IsAlreadyExists(errs[0]) || errdefs.IsAlreadyExists(errs[1])) {
		t.Errorf("racing execs: %v / %v", errs[0], errs[1])
	}
	// Once init has exited, no exec starts and no new one is accepted.
	ch, _ := task.Wait(ctx)
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-ch
	if err := never.Start(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("start after init exited: %v", err)
	}
	if _, err := task.Exec(ctx, "late", &p, cio.NullIO); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Errorf("exec in a stopped container: %v", err)
	}
}

// TestNoFDLeak: a container's init and its execs start with fds 0, 1 and 2
// only (ls itself holds the 3 it lists /proc/self/fd with).
func TestNoFDLeak(t *testing.T) {
	const want = "0 1 2 3"
	both(t, nil, nil, []string{"sh", "-c", "echo $(ls /proc/self/fd)"}, func(t *testing.T, r result) {
		if strings.TrimSpace(r.stdout) != want {
			t.Fatalf("init fds %q, want %q (stderr %q)", r.stdout, want, r.stderr)
		}
	})
	ctx, _, task := runningContainer(t)
	for _, tty := range []bool{false, true} {
		spec, _ := task.Spec(ctx)
		p := *spec.Process
		p.Args = []string{"sh", "-c", "echo $(ls /proc/self/fd)"}
		p.Terminal = tty
		var out syncBuffer
		opts := []cio.Opt{cio.WithStreams(nil, &out, &out)}
		if tty {
			opts = append(opts, cio.WithTerminal)
		}
		proc, err := task.Exec(ctx, fmt.Sprintf("fds-%v", tty), &p, cio.NewCreator(opts...))
		if err != nil {
			t.Fatal(err)
		}
		ch, _ := proc.Wait(ctx)
		if err := proc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-ch
		if _, err := proc.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(clean(out.String())); got != want {
			t.Fatalf("exec (tty %v) fds %q, want %q", tty, got, want)
		}
	}
}
