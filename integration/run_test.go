package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var idSeq atomic.Int64

// newID returns a container id unique to this test run.
func newID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, idSeq.Add(1))
}

func testCtx(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), testNamespace), timeout)
	t.Cleanup(cancel)
	return ctx
}

// result is what one container run produced.
type result struct {
	stdout, stderr string
	code           int
}

// ctrRun runs `ctr run --rm` of args on the shared busybox rootfs.
func ctrRun(t *testing.T, extra []string, args ...string) result {
	t.Helper()
	return ctrRunIn(t, busyboxRootfs(t), "", extra, args...)
}

func ctrRunIn(t *testing.T, rootfs, stdin string, extra []string, args ...string) result {
	t.Helper()
	cmd := []string{"run", "--rm", "--runtime", runtimeName}
	cmd = append(cmd, extra...)
	cmd = append(cmd, "--rootfs", rootfs, newID("ctr"))
	cmd = append(cmd, args...)
	out, errOut, code := runCtr(t, 60*time.Second, stdin, cmd...)
	return result{out, errOut, code}
}

// clientRun creates, starts, waits for and deletes a task through the Go
// client, with opts applied to the spec.
func clientRun(t *testing.T, opts []oci.SpecOpts, args ...string) result {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	c := newClient(t)
	var stdout, stderr bytes.Buffer
	specOpts := append([]oci.SpecOpts{oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs(args...)}, opts...)
	ctr, err := c.NewContainer(ctx, newID("cli"), containerd.WithNewSpec(specOpts...), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatalf("new container: %v", err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx))
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &stdout, &stderr)))
	if err != nil {
		t.Fatalf("new task: %v", err)
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	ch, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	st := <-ch
	code, _, err := st.Result()
	if err != nil {
		t.Fatalf("exit status: %v", err)
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Fatalf("delete: %v", err)
	}
	return result{stdout.String(), stderr.String(), int(code)}
}

// both runs a scenario through ctr and through the Go client.
func both(t *testing.T, ctrExtra []string, opts []oci.SpecOpts, args []string, check func(t *testing.T, r result)) {
	t.Run("ctr", func(t *testing.T) { check(t, ctrRun(t, ctrExtra, args...)) })
	t.Run("client", func(t *testing.T) { check(t, clientRun(t, opts, args...)) })
}

func TestExitCodes(t *testing.T) {
	for _, code := range []int{0, 7} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			both(t, nil, nil, []string{"sh", "-c", fmt.Sprintf("exit %d", code)}, func(t *testing.T, r result) {
				if r.code != code {
					t.Fatalf("exit %d, want %d (stderr %q)", r.code, code, r.stderr)
				}
			})
		})
	}
}

// TestExitBySignal checks 128+signal. Pid 1 of a pid namespace cannot die
// of a signal it has no handler for, except SIGKILL; so the SIGTERM case
// kills the child that sh waits for, and sh reports its status, as it does
// under runc.
func TestExitBySignal(t *testing.T) {
	const script = "sleep 100 & wait $!"
	for _, sig := range []struct {
		name string
		num  syscall.Signal
	}{{"SIGKILL", syscall.SIGKILL}, {"SIGTERM", syscall.SIGTERM}} {
		want := 128 + int(sig.num)
		t.Run(fmt.Sprintf("ctr-%d", want), func(t *testing.T) {
			id := newID("sig")
			done := make(chan result, 1)
			go func() {
				out, errOut, code := runCtr(t, 60*time.Second, "", "run", "--rm", "--runtime", runtimeName, "--rootfs", busyboxRootfs(t), id, "sh", "-c", script)
				done <- result{out, errOut, code}
			}()
			defer func() {
				select {
				case <-done:
				default:
					runCtr(t, 20*time.Second, "", "task", "kill", "--all", "-s", "SIGKILL", id)
					<-done
				}
			}()
			waitRunning(t, id)
			if _, errOut, code := runCtr(t, 20*time.Second, "", "task", "kill", "--all", "-s", sig.name, id); code != 0 {
				t.Fatalf("kill: %s", errOut)
			}
			r := <-done
			done <- r
			if r.code != want {
				t.Fatalf("ctr exit %d, want %d (%q)", r.code, want, r.stderr)
			}
		})
		t.Run(fmt.Sprintf("client-%d", want), func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			c := newClient(t)
			ctr, err := c.NewContainer(ctx, newID("sig"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("sh", "-c", script)), containerd.WithRuntime(runtimeName, nil))
			if err != nil {
				t.Fatal(err)
			}
			defer ctr.Delete(context.WithoutCancel(ctx))
			task, err := ctr.NewTask(ctx, cio.NullIO)
			if err != nil {
				t.Fatal(err)
			}
			defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
			ch, _ := task.Wait(ctx)
			if err := task.Start(ctx); err != nil {
				t.Fatal(err)
			}
			// Wait until sh has started its child.
			for {
				pids, err := task.Pids(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(pids) >= 2 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := task.Kill(ctx, sig.num, containerd.WithKillAll); err != nil {
				t.Fatal(err)
			}
			code, _, _ := (<-ch).Result()
			if int(code) != want {
				t.Fatalf("exit %d, want %d", code, want)
			}
		})
	}
}

// waitRunning polls ctr until the task id is RUNNING.
func waitRunning(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, _, _ := runCtr(t, 10*time.Second, "", "task", "ls")
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == id && f[2] == "RUNNING" {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("task %s never ran", id)
}

func TestPidOne(t *testing.T) {
	both(t, nil, nil, []string{"sh", "-c", "echo $$"}, func(t *testing.T, r result) {
		if strings.TrimSpace(r.stdout) != "1" || r.code != 0 {
			t.Fatalf("pid %q code %d stderr %q", r.stdout, r.code, r.stderr)
		}
	})
}

func TestHostname(t *testing.T) {
	both(t, []string{"--hostname", "raindhost"}, []oci.SpecOpts{oci.WithHostname("raindhost")}, []string{"hostname"}, func(t *testing.T, r result) {
		if strings.TrimSpace(r.stdout) != "raindhost" {
			t.Fatalf("hostname %q (stderr %q)", r.stdout, r.stderr)
		}
	})
}

func TestMounts(t *testing.T) {
	script := `test -r /proc/self/status && echo proc; touch /sys/x 2>/dev/null || echo sysro; test -d /dev/pts && echo pts; test -c /dev/null && echo null; readlink /dev/fd`
	both(t, nil, nil, []string{"sh", "-c", script}, func(t *testing.T, r result) {
		want := "proc\nsysro\npts\nnull\n/proc/self/fd\n"
		if r.stdout != want {
			t.Fatalf("got %q want %q (stderr %q)", r.stdout, want, r.stderr)
		}
	})
}

func TestProcessSettings(t *testing.T) {
	args := []string{"sh", "-c", "echo $FOO; pwd; id -u; id -g"}
	both(t, []string{"--env", "FOO=bar", "--cwd", "/tmp", "--user", "1000:1000"},
		[]oci.SpecOpts{oci.WithEnv([]string{"FOO=bar"}), oci.WithProcessCwd("/tmp"), oci.WithUIDGID(1000, 1000)},
		args, func(t *testing.T, r result) {
			if r.stdout != "bar\n/tmp\n1000\n1000\n" {
				t.Fatalf("got %q (stderr %q)", r.stdout, r.stderr)
			}
		})
}

func TestMemoryLimitKills(t *testing.T) {
	const limit = 32 << 20
	// tail buffers a never-ending line of /dev/zero: it grows until killed.
	both(t, []string{"--memory-limit", fmt.Sprint(limit)}, []oci.SpecOpts{oci.WithMemoryLimit(limit)}, []string{"tail", "/dev/zero"}, func(t *testing.T, r result) {
		if r.code != 137 {
			t.Fatalf("exit %d, want 137 (stderr %q)", r.code, r.stderr)
		}
	})
}

func TestPidsLimit(t *testing.T) {
	withPids := func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		limit := int64(8)
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
		return nil
	}
	// busybox sh gives up at the first fork the limit refuses; without the
	// limit all 40 sleeps start and "done" is printed.
	script := `i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; echo done`
	r := clientRun(t, []oci.SpecOpts{withPids}, "sh", "-c", script)
	if r.code == 0 || strings.Contains(r.stdout, "done") || !strings.Contains(r.stderr, "can't fork") {
		t.Fatalf("fork loop not stopped by the pids limit: %+v", r)
	}
	r = clientRun(t, nil, "sh", "-c", script+"; kill -9 -1")
	if !strings.Contains(r.stdout, "done") {
		t.Fatalf("the same loop fails without a limit: %+v", r)
	}
}

func TestStdinCloseIO(t *testing.T) {
	t.Run("ctr", func(t *testing.T) {
		r := ctrRunIn(t, busyboxRootfs(t), "hi\n", nil, "cat")
		if r.stdout != "hi\n" || r.code != 0 {
			t.Fatalf("got %q code %d (%q)", r.stdout, r.code, r.stderr)
		}
	})
	t.Run("client", func(t *testing.T) {
		ctx := testCtx(t, 60*time.Second)
		c := newClient(t)
		ctr, err := c.NewContainer(ctx, newID("stdin"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("cat")), containerd.WithRuntime(runtimeName, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer ctr.Delete(context.WithoutCancel(ctx))
		pr, pw := io.Pipe()
		var out bytes.Buffer
		task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(pr, &out, io.Discard)))
		if err != nil {
			t.Fatal(err)
		}
		defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		ch, _ := task.Wait(ctx)
		if err := task.Start(ctx); err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(pw, "line one\nline two\n")
		pw.Close()
		if err := task.CloseIO(ctx, containerd.WithStdinCloser); err != nil {
			t.Fatal(err)
		}
		code, _, _ := (<-ch).Result()
		if _, err := task.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		if code != 0 || out.String() != "line one\nline two\n" {
			t.Fatalf("code %d out %q", code, out.String())
		}
	})
}
