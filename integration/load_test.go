package integration

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// The load tests (TestLoad*) run small in the normal suite, so that it
// catches leaks too, and at full scale with -load or RAIND_LOAD=1 (make
// load). Each measures the host (hostUsage) and, where a shim lives
// through the whole scenario, that shim (shimSnap) before and after, and
// fails unless both are back to their baseline.
var loadFlag = flag.Bool("load", false, "run the TestLoad* scenarios at full scale (also RAIND_LOAD=1)")

func loadFull() bool { return *loadFlag || os.Getenv("RAIND_LOAD") == "1" }

// scale picks the small or the full figure.
func scale(small, full int) int {
	if loadFull() {
		return full
	}
	return small
}

// loadIO returns a creator of FIFOs in the daemon's directory (not the
// host's /run/containerd/fifo) wired to stdout.
func loadIO(stdout *syncBuffer) cio.Creator {
	return cio.NewCreator(cio.WithStreams(nil, stdout, nil), cio.WithFIFODir(filepath.Join(testEnv.dir, "fifo")))
}

// durations summarises per-operation times.
type durations []time.Duration

func (d durations) String() string {
	if len(d) == 0 {
		return "none"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	var sum time.Duration
	for _, x := range s {
		sum += x
	}
	ms := func(x time.Duration) string { return strconv.FormatFloat(float64(x)/1e6, 'f', 1, 64) + "ms" }
	return fmt.Sprintf("n=%d mean=%s p50=%s p99=%s max=%s", len(s), ms(sum/time.Duration(len(s))), ms(s[len(s)/2]), ms(s[len(s)*99/100]), ms(s[len(s)-1]))
}

// echoCycle creates, starts, waits for and deletes one container that
// echoes a token, and checks the token came through its stdout FIFO.
// created, if not nil, runs once the task exists (its shim is up).
func echoCycle(ctx context.Context, c *containerd.Client, id string, created func(), opts ...oci.SpecOpts) (err error) {
	want := "cycle " + id
	specOpts := append([]oci.SpecOpts{oci.WithRootFSPath(testEnv.rootfs()), oci.WithProcessArgs("echo", want)}, opts...)
	ctr, err := c.NewContainer(ctx, id, containerd.WithNewSpec(specOpts...), containerd.WithRuntime(runtimeName, nil))
	if err != nil {
		return fmt.Errorf("create container %s: %w", id, err)
	}
	defer func() {
		if err != nil {
			_ = ctr.Delete(context.WithoutCancel(ctx))
		}
	}()
	var out syncBuffer
	task, err := ctr.NewTask(ctx, loadIO(&out))
	if err != nil {
		return fmt.Errorf("create task %s: %w", id, err)
	}
	if created != nil {
		created()
	}
	defer func() {
		if err != nil {
			_, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		}
	}()
	ch, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	if err := task.Start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	st := <-ch
	if st.Error() != nil || st.ExitCode() != 0 {
		return fmt.Errorf("%s: exit %d %v", id, st.ExitCode(), st.Error())
	}
	if _, err := task.Delete(ctx); err != nil {
		return fmt.Errorf("delete task %s: %w", id, err)
	}
	if err := ctr.Delete(ctx); err != nil {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	if got := out.String(); got != want+"\n" {
		return fmt.Errorf("%s printed %q, want %q", id, got, want+"\n")
	}
	return nil
}

// checkHostAtEnd takes the host's baseline now and checks, once the
// test's own cleanups (its anchor container) have run, that the host is
// back to it.
func checkHostAtEnd(t *testing.T, what string) {
	t.Helper()
	before := hostSnapshot(t)
	t.Cleanup(func() { waitHostFlat(t, what+", after its pod", before, 30*time.Second) })
}

// TestLoadCyclesSharedShim: sequential create/start/delete cycles of
// containers that all belong to one pod, so one shim serves them all and
// must end where it started.
func TestLoadCyclesSharedShim(t *testing.T) {
	n := scale(30, 1000)
	ctx := testCtx(t, 50*time.Minute)
	group := newID(loadPrefix + "pod")
	checkHostAtEnd(t, "cycles-shared")
	_, shim := anchor(t, ctx, group)
	c := newClient(t)
	cold := shimSnapshot(t, shim)
	for i := 0; i < 5; i++ {
		if err := echoCycle(ctx, c, newID(loadPrefix+"warm"), nil, withSandbox(group)); err != nil {
			t.Fatal(err)
		}
	}
	host := hostSnapshot(t)
	warm := shimSnapshot(t, shim)
	t.Logf("shim %d: cold %v", shim, cold)
	var times durations
	start := time.Now()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		var shims []int
		if err := echoCycle(ctx, c, newID(loadPrefix+"cyc"), func() { shims = shimPids(t) }, withSandbox(group)); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if len(shims) != host.shims || !slices.Contains(shims, shim) {
			t.Fatalf("cycle %d: shims %v while it ran, want only the pod's %d", i, shims, shim)
		}
		times = append(times, time.Since(t0))
	}
	total := time.Since(start)
	t.Logf("LOAD cycles-shared: %d cycles in one shim in %s (%s per cycle; %v); load average %s",
		n, total.Round(time.Millisecond), (total / time.Duration(n)).Round(100*time.Microsecond), times, loadAvg())
	waitHostFlat(t, "cycles-shared", host, 30*time.Second)
	waitShimFlat(t, "cycles-shared", shim, warm, 60*time.Second)
}

// TestLoadCyclesFreshShim: sequential cycles of containers each in a shim
// of its own, every one of which must exit.
func TestLoadCyclesFreshShim(t *testing.T) {
	n := scale(10, 300)
	ctx := testCtx(t, 50*time.Minute)
	c := newClient(t)
	if err := echoCycle(ctx, c, newID(loadPrefix+"warm"), nil); err != nil {
		t.Fatal(err)
	}
	host := hostSnapshot(t)
	var times, exits durations
	start := time.Now()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		shim := 0
		before := shimPids(t)
		if err := echoCycle(ctx, c, newID(loadPrefix+"fresh"), func() { shim = newShim(t, before) }); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		times = append(times, time.Since(t0))
		t1 := time.Now()
		waitWithin(t, 20*time.Second, fmt.Sprintf("shim %d of cycle %d to exit", shim, i), func() bool {
			return shim > 1 && exited(shim)
		})
		exits = append(exits, time.Since(t1))
	}
	total := time.Since(start)
	t.Logf("LOAD cycles-fresh: %d cycles, a shim each, all exited, in %s (cycle %v; shim exit after delete %v); load average %s",
		n, total.Round(time.Millisecond), times, exits, loadAvg())
	waitHostFlat(t, "cycles-fresh", host, 30*time.Second)
}

// TestLoadParallelStarts: containers started a batch at a time (each in
// its own shim, on a snapshot of the image, so the shims mount and unmount
// an overlay each), all running at once, then all deleted.
func TestLoadParallelStarts(t *testing.T) {
	n, par := scale(20, 100), scale(10, 20)
	ctx := testCtx(t, 30*time.Minute)
	c := newClient(t)
	img := importBusyboxImage(t, c)
	host := hostSnapshot(t)
	tasks := make([]containerd.Task, n)
	ctrs := make([]containerd.Container, n)
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		for i := range n {
			if tasks[i] != nil {
				_, _ = tasks[i].Delete(ctx, containerd.WithProcessKill)
			}
			if ctrs[i] != nil {
				_ = ctrs[i].Delete(ctx, containerd.WithSnapshotCleanup)
			}
		}
	})
	inBatches := func(f func(i int) error) (time.Duration, error) {
		start := time.Now()
		var errs []error
		for b := 0; b < n; b += par {
			var wg sync.WaitGroup
			var mu sync.Mutex
			for i := b; i < min(b+par, n); i++ {
				wg.Go(func() {
					if err := f(i); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
		}
		return time.Since(start), errors.Join(errs...)
	}
	startTook, err := inBatches(func(i int) error {
		id := newID(loadPrefix + "par")
		ctr, err := c.NewContainer(ctx, id, containerd.WithNewSnapshot(id+"-snap", img),
			containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sleep", "1000")), containerd.WithRuntime(runtimeName, nil))
		if err != nil {
			return fmt.Errorf("create %s: %w", id, err)
		}
		ctrs[i] = ctr
		task, err := ctr.NewTask(ctx, cio.NullIO)
		if err != nil {
			return fmt.Errorf("task %s: %w", id, err)
		}
		tasks[i] = task
		if err := task.Start(ctx); err != nil {
			return fmt.Errorf("start %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	running := hostSnapshot(t)
	// A shim, a container process and a rootfs overlay each.
	if running.shims != host.shims+n || running.containerProcs != host.containerProcs+n || running.mounts != host.mounts+n {
		t.Errorf("with %d containers running: %v (before %v)", n, running, host)
	}
	var pss, private int
	for _, p := range shimPids(t) {
		m := readShimMem(p)
		pss += m.pss
		private += m.private
	}
	deleteTook, err := inBatches(func(i int) error {
		if _, err := tasks[i].Delete(ctx, containerd.WithProcessKill); err != nil {
			return fmt.Errorf("delete task %d: %w", i, err)
		}
		tasks[i] = nil
		if err := ctrs[i].Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			return fmt.Errorf("delete container %d: %w", i, err)
		}
		ctrs[i] = nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("LOAD parallel-starts: %d containers, %d at a time: started in %s, deleted in %s; running: %v, shims' PSS %d KiB (%d KiB each), private %d KiB; load average %s",
		n, par, startTook.Round(time.Millisecond), deleteTook.Round(time.Millisecond), running, pss, pss/max(running.shims, 1), private, loadAvg())
	waitHostFlat(t, "parallel-starts", host, time.Minute)
}

// TestLoadConcurrentExecs: rounds of concurrent execs into one container,
// each printing its own number, which must come back on its own stdout.
// A warm-up round of the same size goes first, so the baseline holds the
// Go runtime's high-water mark of threads.
func TestLoadConcurrentExecs(t *testing.T) {
	n, rounds := scale(50, 200), scale(1, 3)
	ctx := testCtx(t, 30*time.Minute)
	checkHostAtEnd(t, "execs")
	task, shim := anchor(t, ctx, newID(loadPrefix+"execs"))
	spec, err := task.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seq atomic.Int64
	round := func() (time.Duration, error) {
		start := time.Now()
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				k := seq.Add(1)
				p := *spec.Process
				p.Args = []string{"echo", strconv.FormatInt(k, 10)}
				var out syncBuffer
				proc, err := task.Exec(ctx, "e"+strconv.FormatInt(k, 10), &p, loadIO(&out))
				if err != nil {
					errs[i] = fmt.Errorf("exec %d: %w", k, err)
					return
				}
				defer proc.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
				ch, err := proc.Wait(ctx)
				if err != nil {
					errs[i] = err
					return
				}
				if err := proc.Start(ctx); err != nil {
					errs[i] = fmt.Errorf("start exec %d: %w", k, err)
					return
				}
				st := <-ch
				if st.ExitCode() != 0 || st.Error() != nil {
					errs[i] = fmt.Errorf("exec %d: exit %d %v", k, st.ExitCode(), st.Error())
					return
				}
				if _, err := proc.Delete(ctx); err != nil {
					errs[i] = fmt.Errorf("delete exec %d: %w", k, err)
					return
				}
				if got, want := out.String(), strconv.FormatInt(k, 10)+"\n"; got != want {
					errs[i] = fmt.Errorf("exec %d printed %q", k, got)
				}
			})
		}
		wg.Wait()
		return time.Since(start), errors.Join(errs...)
	}
	// An exec whose output never arrived: say whether the shim gave up
	// waiting for the client to read it (io/drain.go), as it logs.
	unreadExits := func() int {
		b, _ := os.ReadFile(testEnv.log())
		return strings.Count(string(b), "reporting its exit with output unread")
	}
	cold := shimSnapshot(t, shim)
	if _, err := round(); err != nil {
		t.Fatalf("warm-up round: %v (exits reported with output unread, in the whole log: %d)", err, unreadExits())
	}
	host := hostSnapshot(t)
	warm := shimSnapshot(t, shim)
	var took durations
	for r := 0; r < rounds; r++ {
		d, err := round()
		if err != nil {
			t.Fatalf("round %d: %v (exits reported with output unread, in the whole log: %d)", r, err, unreadExits())
		}
		took = append(took, d)
	}
	t.Logf("LOAD execs: %d rounds of %d concurrent execs into one container, all outputs correct; round took %v; shim %d cold %v; load average %s",
		rounds, n, took, shim, cold, loadAvg())
	waitHostFlat(t, "execs", host, 30*time.Second)
	waitShimFlat(t, "execs", shim, warm, 60*time.Second)
}

// patternWriter counts what one writer container printed and checks that
// it is its own line, repeated: nothing lost in the middle of a line,
// nothing from another container.
type patternWriter struct {
	line []byte
	mu   sync.Mutex
	pos  int
	n    int64
	bad  error
}

func (w *patternWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, b := range p {
		if w.bad == nil && b != w.line[w.pos] {
			w.bad = fmt.Errorf("byte %d is %q, want %q", w.n+int64(i), b, w.line[w.pos])
		}
		w.pos = (w.pos + 1) % len(w.line)
	}
	w.n += int64(len(p))
	return len(p), nil
}

func (w *patternWriter) count() (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n, w.bad
}

// TestLoadWriters: containers of one pod writing stdout as fast as they
// can, drained by the client, for a while; then stopped. The pod's shim
// holds the FIFOs' other ends: its memory is sampled during the run and
// must be back to its warm baseline after.
func TestLoadWriters(t *testing.T) {
	n, secs := scale(5, 20), scale(5, 60)
	ctx := testCtx(t, 30*time.Minute)
	group := newID(loadPrefix + "writers")
	checkHostAtEnd(t, "writers")
	_, shim := anchor(t, ctx, group)
	c := newClient(t)
	run := func(d time.Duration) (total int64, per []int64, peak shimMem, err error) {
		type writer struct {
			ctr  containerd.Container
			task containerd.Task
			out  *patternWriter
			exit <-chan containerd.ExitStatus
		}
		ws := make([]*writer, n)
		defer func() {
			ctx := context.WithoutCancel(ctx)
			for _, w := range ws {
				if w != nil && w.task != nil {
					_, _ = w.task.Delete(ctx, containerd.WithProcessKill)
				}
				if w != nil {
					_ = w.ctr.Delete(ctx)
				}
			}
		}()
		for i := range ws {
			id := newID(loadPrefix + "yes")
			line := "raind load writer " + id
			ctr, err := c.NewContainer(ctx, id, containerd.WithNewSpec(oci.WithRootFSPath(testEnv.rootfs()), oci.WithProcessArgs("yes", line), withSandbox(group)), containerd.WithRuntime(runtimeName, nil))
			if err != nil {
				return 0, nil, peak, err
			}
			w := &writer{ctr: ctr, out: &patternWriter{line: []byte(line + "\n")}}
			ws[i] = w
			w.task, err = ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, w.out, nil), cio.WithFIFODir(filepath.Join(testEnv.dir, "fifo"))))
			if err != nil {
				return 0, nil, peak, err
			}
			if w.exit, err = w.task.Wait(ctx); err != nil {
				return 0, nil, peak, err
			}
		}
		for _, w := range ws {
			if err := w.task.Start(ctx); err != nil {
				return 0, nil, peak, err
			}
		}
		started := time.Now()
		for time.Since(started) < d {
			time.Sleep(min(time.Second, d))
			if m := readShimMem(shim); m.private > peak.private {
				peak = m
			}
		}
		counted := make([]int64, n)
		for i, w := range ws {
			// Still running: a writer that died early (EPIPE, a full
			// pipe that broke) fails the run.
			st, err := w.task.Status(ctx)
			if err != nil || st.Status != containerd.Running {
				return 0, nil, peak, fmt.Errorf("writer %d after %s: %v %v", i, d, st.Status, err)
			}
			counted[i], _ = w.out.count()
		}
		for _, w := range ws {
			if err := w.task.Kill(ctx, syscall.SIGKILL); err != nil {
				return 0, nil, peak, err
			}
		}
		for i, w := range ws {
			st := <-w.exit
			if st.ExitCode() != 128+uint32(syscall.SIGKILL) {
				return 0, nil, peak, fmt.Errorf("writer %d: exit %d %v, want killed", i, st.ExitCode(), st.Error())
			}
			if _, err := w.task.Delete(ctx); err != nil {
				return 0, nil, peak, err
			}
			w.task = nil
			if err := w.ctr.Delete(ctx); err != nil {
				return 0, nil, peak, err
			}
			ws[i] = nil
			n, bad := w.out.count()
			if bad != nil {
				return 0, nil, peak, fmt.Errorf("writer %d: %w", i, bad)
			}
			if n == 0 {
				return 0, nil, peak, fmt.Errorf("writer %d wrote nothing", i)
			}
		}
		for _, v := range counted {
			total += v
		}
		return total, counted, peak, nil
	}
	cold := shimSnapshot(t, shim)
	if _, _, _, err := run(2 * time.Second); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	host := hostSnapshot(t)
	warm := shimSnapshot(t, shim)
	d := time.Duration(secs) * time.Second
	total, per, peak, err := run(d)
	if err != nil {
		t.Fatal(err)
	}
	mib := func(b int64) string { return strconv.FormatFloat(float64(b)/float64(1<<20)/d.Seconds(), 'f', 1, 64) }
	var perS []string
	lo, hi := per[0], per[0]
	for _, v := range per {
		perS = append(perS, mib(v))
		lo, hi = min(lo, v), max(hi, v)
	}
	t.Logf("LOAD writers: %d containers in one shim writing stdout for %s: %d MiB in all, %s MiB/s total, per container %s MiB/s (min %s, max %s); shim %d cold %v, peak during run %v; load average %s",
		n, d, total>>20, mib(total), strings.Join(perS, " "), mib(lo), mib(hi), shim, cold, peak, loadAvg())
	waitHostFlat(t, "writers", host, 30*time.Second)
	waitShimFlat(t, "writers", shim, warm, 60*time.Second)
}
