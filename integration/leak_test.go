package integration

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// shimUsage is what a leak shows in: open fds, OS threads, goroutines and
// child processes of the shim.
type shimUsage struct {
	fds, threads, goroutines, children int
}

func countDir(p string) int {
	entries, _ := os.ReadDir(p)
	return len(entries)
}

// goroutineDump asks pkg/shim for a stack dump (SIGUSR1, logged through
// containerd) and returns it, one goroutine per element.
func goroutineDump(t *testing.T, pid int) []string {
	t.Helper()
	before, _ := os.ReadFile(testEnv.log())
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	const begin, end = "=== BEGIN goroutine stack dump ===", "=== END goroutine stack dump ==="
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(testEnv.log())
		fresh := string(b[min(len(before), len(b)):])
		i := strings.Index(fresh, begin)
		j := strings.Index(fresh, end)
		if i >= 0 && j > i {
			// The log carries the dump as one escaped string, one
			// goroutine per paragraph, each opened by its header
			// ("goroutine 7 [select]:"). Counting headers, and not
			// every "goroutine ", leaves out the "created by … in
			// goroutine 1" lines.
			dump := strings.ReplaceAll(fresh[i+len(begin):j], `\n`, "\n")
			var gs []string
			for _, g := range strings.Split(dump, "\n\n") {
				if g = strings.TrimSpace(g); strings.HasPrefix(g, "goroutine ") {
					gs = append(gs, g)
				}
			}
			return gs
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no goroutine dump from the shim")
	return nil
}

// summarize counts goroutines by the function each is blocked in: the
// first frame outside the runtime and the standard library's sync.
func summarize(dump []string) map[string]int {
	out := map[string]int{}
	for _, g := range dump {
		for _, l := range strings.Split(g, "\n")[1:] {
			if strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "runtime.") || strings.HasPrefix(l, "internal/") || strings.HasPrefix(l, "sync.") {
				continue
			}
			if i := strings.LastIndex(l, "("); i > 0 {
				l = l[:i]
			}
			out[l]++
			break
		}
	}
	return out
}

// procUsage is the shim's fds, threads and children, from /proc.
func procUsage(pid int) shimUsage {
	u := shimUsage{fds: countDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))}
	status, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			u.threads, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	children, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", strconv.Itoa(pid), "children"))
	u.children = len(strings.Fields(string(children)))
	return u
}

// shimState is the shim's fds, threads and goroutines, and where its
// goroutines wait.
type shimState struct {
	u      shimUsage
	stacks map[string]int
}

func shimNow(t *testing.T, shim int) shimState {
	t.Helper()
	// One dump gives both the count and where they wait, so that the
	// two agree.
	dump := goroutineDump(t, shim)
	u := procUsage(shim)
	u.goroutines = len(dump)
	return shimState{u: u, stacks: summarize(dump)}
}

func usage(t *testing.T, pid int) shimUsage {
	t.Helper()
	return shimNow(t, pid).u
}

// withSandbox groups containers into one shim, as CRI does for a pod.
func withSandbox(id string) oci.SpecOpts {
	return oci.WithAnnotations(map[string]string{"io.kubernetes.cri.sandbox-id": id})
}

// anchor starts a long-running container in group and returns the pid of
// the shim serving the group.
func anchor(t *testing.T, ctx context.Context, group string) (containerd.Task, int) {
	t.Helper()
	c := newClient(t)
	before := map[int]bool{}
	for _, p := range shimPids(t) {
		before[p] = true
	}
	ctr, err := c.NewContainer(ctx, group, containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("sleep", "1000"), withSandbox(group)), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		task.Delete(ctx, containerd.WithProcessKill)
		ctr.Delete(ctx)
	})
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range shimPids(t) {
		if !before[p] {
			return task, p
		}
	}
	t.Fatal("no shim for the anchor container")
	return nil, 0
}

func fdTargets(pid int) string {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		l, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out = append(out, e.Name()+"->"+l)
	}
	return strings.Join(out, " ")
}

func assertFlat(t *testing.T, what string, before, after shimUsage) {
	t.Helper()
	t.Logf("%s: before %+v after %+v", what, before, after)
	// A goroutine or two may be mid-flight (a ttrpc connection); leaks
	// of one per container would show as hundreds.
	if after.fds > before.fds || after.children > before.children || after.goroutines > before.goroutines+3 {
		t.Errorf("%s leaked: before %+v, after %+v", what, before, after)
	}
}

func TestNoLeakTTYContainers(t *testing.T) {
	ctx := testCtx(t, 10*time.Minute)
	group := newID("pod")
	_, shim := anchor(t, ctx, group)
	c := newClient(t)
	run := func(i int) {
		var out syncBuffer
		ctr, err := c.NewContainer(ctx, newID("leak"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("echo", "hi"), oci.WithTTY, withSandbox(group)), containerd.WithRuntime(runtimeName, nil))
		if err != nil {
			t.Fatal(err)
		}
		task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, nil), cio.WithTerminal))
		if err != nil {
			t.Fatal(err)
		}
		ch, _ := task.Wait(ctx)
		if err := task.Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-ch
		if _, err := task.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ctr.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "hi") {
			t.Fatalf("container %d printed %q", i, out.String())
		}
	}
	run(-1) // warm up lazily created state
	before := usage(t, shim)
	for i := 0; i < 200; i++ {
		run(i)
	}
	assertFlat(t, "200 tty containers", before, usage(t, shim))
}

func TestNoLeakExecs(t *testing.T) {
	ctx := testCtx(t, 10*time.Minute)
	task, shim := anchor(t, ctx, newID("execpod"))
	spec, err := task.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run := func(i int) {
		p := *spec.Process
		p.Args = []string{"true"}
		p.Terminal = i%2 == 0
		var out syncBuffer
		opts := []cio.Opt{cio.WithStreams(nil, &out, &out)}
		if p.Terminal {
			opts = append(opts, cio.WithTerminal)
		}
		proc, err := task.Exec(ctx, "x"+strconv.Itoa(i), &p, cio.NewCreator(opts...))
		if err != nil {
			t.Fatal(err)
		}
		ch, _ := proc.Wait(ctx)
		if err := proc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if st := <-ch; st.ExitCode() != 0 {
			t.Fatalf("exec %d: exit %d", i, st.ExitCode())
		}
		if _, err := proc.Delete(ctx); err != nil {
			t.Fatal(err)
		}
	}
	run(-2)
	before := usage(t, shim)
	fdsBefore := fdTargets(shim)
	for i := 0; i < 500; i++ {
		run(i)
	}
	after := usage(t, shim)
	if after.fds > before.fds {
		t.Logf("fds before: %s\nfds after: %s", fdsBefore, fdTargets(shim))
	}
	assertFlat(t, "500 execs", before, after)
}
