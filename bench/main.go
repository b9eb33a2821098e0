// Command bench measures raind against containerd's runc shim driving
// runc, on one private containerd and one rootfs, with the two runtimes'
// runs interleaved, and prints a table of medians, p90s and ratios.
//
// It is run by `make bench`, which builds the shim and installs containerd,
// runc and the busybox rootfs first. It must not touch a system containerd.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"golang.org/x/sys/unix"
)

const (
	raind = "io.containerd.raind.v2"
	runc  = "io.containerd.runc.v2"
	ns    = "raind-bench"
)

// runtimes are compared in this order in every interleaved round.
var runtimes = [...]string{raind, runc}

type env struct {
	repo, cache, dir, sock string
	client                 *containerd.Client
	rootfs                 string
	seq                    int // for container ids; the runs are sequential
}

func main() {
	lifecycleRuns := flag.Int("lifecycle", 50, "task lifecycles per runtime")
	ctrRuns := flag.Int("ctr", 20, "ctr run --rm per runtime")
	execRuns := flag.Int("exec", 50, "execs per runtime")
	gib := flag.Int("mib", 1024, "MiB for the throughput runs")
	memory := flag.Bool("memory", true, "measure shim memory")
	many := flag.Int("many", 100, "containers for the concurrent start (0 skips it)")
	keep := flag.Bool("keep", false, "stop containerd but keep its directory (its log) for a look afterwards")
	flag.Parse()
	if err := run(*lifecycleRuns, *ctrRuns, *execRuns, *gib, *memory, *many, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// A zero count (or -memory=false) skips that part of the run.
func run(lifecycleRuns, ctrRuns, execRuns, mib int, memory bool, manyN int, keep bool) error {
	repo, _ := filepath.Abs(".")
	cache := os.Getenv("RAIND_CACHE")
	if cache == "" {
		cache = filepath.Join(os.Getenv("HOME"), ".cache", "raind")
	}
	dir, err := os.MkdirTemp("", "raind-bench.")
	if err != nil {
		return err
	}
	e := &env{repo: repo, cache: cache, dir: dir, rootfs: filepath.Join(cache, "rootfs", "busybox")}
	start := exec.Command(filepath.Join(repo, "hack", "containerd.sh"), "start")
	start.Env = append(os.Environ(), "RAIND_CTRD_DIR="+dir)
	start.Stderr = os.Stderr
	out, err := start.Output()
	if err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	e.sock = strings.TrimSpace(string(out))
	defer func() {
		action := "destroy"
		if keep {
			action = "stop"
			fmt.Fprintln(os.Stderr, "containerd's directory is kept:", dir)
		}
		stop := exec.Command(filepath.Join(repo, "hack", "containerd.sh"), action)
		stop.Env = append(os.Environ(), "RAIND_CTRD_DIR="+dir)
		stop.Stdout, stop.Stderr = os.Stderr, os.Stderr
		_ = stop.Run()
		globs, _ := filepath.Glob("/sys/fs/cgroup/*/" + ns)
		for _, g := range globs {
			_ = os.Remove(g)
		}
	}()
	e.client, err = containerd.New(e.sock, containerd.WithDefaultNamespace(ns))
	if err != nil {
		return err
	}
	defer e.client.Close()

	var rows []row
	add := func(r ...row) {
		rows = append(rows, r...)
		for _, x := range r {
			fmt.Fprintf(os.Stderr, "  %s: raind %s, runc %s\n", x.name, x.fmt(x.raind), x.fmt(x.runc))
		}
	}
	one := func(f func(int) (row, error), n int) func() ([]row, error) {
		return func() ([]row, error) {
			r, err := f(n)
			return []row{r}, err
		}
	}
	parts := []struct {
		on    bool
		title string
		run   func() ([]row, error)
	}{
		{lifecycleRuns > 0, "lifecycle (Go client: create, start, wait, delete /bin/true)", one(e.lifecycle, lifecycleRuns)},
		{ctrRuns > 0, "ctr run --rm /bin/true", one(e.ctrRun, ctrRuns)},
		{execRuns > 0, "exec /bin/true into a running container", one(e.execLatency, execRuns)},
		{memory, "shim memory", e.memory},
		{mib > 0, "throughput", func() ([]row, error) { return e.throughput(mib) }},
		{manyN > 0, fmt.Sprintf("%d containers, 10 at a time", manyN), func() ([]row, error) { return e.many(manyN, 10) }},
		{memory, "shim memory, settled", e.settled},
	}
	for _, p := range parts {
		if !p.on {
			continue
		}
		fmt.Fprintln(os.Stderr, p.title)
		r, err := p.run()
		if err != nil {
			return err
		}
		add(r...)
	}
	printTable(rows)
	return nil
}

// row is one line of the table: samples per runtime and how to show them.
type row struct {
	name        string
	raind, runc []float64
	unit        string
	higherWins  bool
}

func (r row) fmt(s []float64) string {
	if len(s) == 1 {
		return fmt.Sprintf("%.2f %s", s[0], r.unit)
	}
	return fmt.Sprintf("%.2f/%.2f %s", pct(s, 50), pct(s, 90), r.unit)
}

func pct(s []float64, p float64) float64 {
	c := append([]float64(nil), s...)
	sort.Float64s(c)
	if len(c) == 0 {
		return 0
	}
	i := int(float64(len(c)-1) * p / 100)
	return c[i]
}

func printTable(rows []row) {
	fmt.Println("| Measurement | raind median | raind p90 | runc shim median | runc shim p90 | raind/runc |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range rows {
		cell := func(s []float64, p float64) string {
			if len(s) == 1 && p == 90 {
				return "–"
			}
			return fmt.Sprintf("%.2f %s", pct(s, p), r.unit)
		}
		ratio := pct(r.raind, 50) / pct(r.runc, 50)
		fmt.Printf("| %s | %s | %s | %s | %s | %.2f |\n", r.name, cell(r.raind, 50), cell(r.raind, 90), cell(r.runc, 50), cell(r.runc, 90), ratio)
	}
}

func (e *env) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 5*time.Minute)
}

func (e *env) id(prefix string) string {
	e.seq++
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), e.seq)
}

func (e *env) newContainer(ctx context.Context, runtime, id string, opts ...oci.SpecOpts) (containerd.Container, error) {
	specOpts := append([]oci.SpecOpts{oci.WithRootFSPath(e.rootfs)}, opts...)
	return e.client.NewContainer(ctx, id, containerd.WithNewSpec(specOpts...), containerd.WithRuntime(runtime, nil))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// lifecycle times create+start+wait+delete of /bin/true through the client.
func (e *env) lifecycle(n int) (row, error) {
	ctx, cancel := e.ctx()
	defer cancel()
	r := row{name: "task lifecycle of /bin/true (Go client)", unit: "ms"}
	// Per-phase times, to show where the lifecycle goes.
	phases := []string{"create", "start", "exit", "delete"}
	per := map[string]map[string][]float64{raind: {}, runc: {}}
	for i := 0; i < n+2; i++ {
		for _, rt := range runtimes {
			c, err := e.newContainer(ctx, rt, e.id("life"), oci.WithProcessArgs("/bin/true"))
			if err != nil {
				return r, err
			}
			t0 := time.Now()
			task, err := c.NewTask(ctx, cio.NullIO)
			if err != nil {
				return r, fmt.Errorf("%s: %w", rt, err)
			}
			t1 := time.Now()
			ch, _ := task.Wait(ctx)
			if err := task.Start(ctx); err != nil {
				return r, err
			}
			t2 := time.Now()
			<-ch
			t3 := time.Now()
			if _, err := task.Delete(ctx); err != nil {
				return r, err
			}
			t4 := time.Now()
			d := ms(t4.Sub(t0))
			_ = c.Delete(ctx)
			if i < 2 {
				continue // warm-up
			}
			for j, p := range []time.Duration{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3)} {
				per[rt][phases[j]] = append(per[rt][phases[j]], ms(p))
			}
			if rt == raind {
				r.raind = append(r.raind, d)
			} else {
				r.runc = append(r.runc, d)
			}
		}
	}
	for _, p := range phases {
		fmt.Fprintf(os.Stderr, "  lifecycle phase %s: raind %.1f ms, runc shim %.1f ms (medians)\n", p, pct(per[raind][p], 50), pct(per[runc][p], 50))
	}
	return r, nil
}

func (e *env) ctr(args ...string) *exec.Cmd {
	return exec.Command(filepath.Join(e.cache, "bin", "ctr"), append([]string{"--address", e.sock, "-n", ns}, args...)...)
}

func (e *env) ctrRun(n int) (row, error) {
	r := row{name: "ctr run --rm /bin/true", unit: "ms"}
	for i := 0; i < n+1; i++ {
		for _, rt := range runtimes {
			cmd := e.ctr("run", "--rm", "--runtime", rt, "--rootfs", e.rootfs, e.id("ctr"), "/bin/true")
			t0 := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				return r, fmt.Errorf("ctr run %s: %v %s", rt, err, out)
			}
			d := ms(time.Since(t0))
			if i == 0 {
				continue
			}
			if rt == raind {
				r.raind = append(r.raind, d)
			} else {
				r.runc = append(r.runc, d)
			}
		}
	}
	return r, nil
}

// running starts `sleep 100000` on rt and returns its task and cleanup.
func (e *env) running(ctx context.Context, rt, id string, opts ...oci.SpecOpts) (containerd.Task, func(), error) {
	c, err := e.newContainer(ctx, rt, id, append([]oci.SpecOpts{oci.WithProcessArgs("/bin/sleep", "100000")}, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		c.Delete(ctx)
		return nil, nil, err
	}
	if err := task.Start(ctx); err != nil {
		err = fmt.Errorf("%s: start %s: %w", rt, id, err)
		if st, serr := task.Status(ctx); serr == nil {
			err = fmt.Errorf("%w (task %s, exit status %d)", err, st.Status, st.ExitStatus)
		}
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
		_ = c.Delete(ctx)
		return nil, nil, err
	}
	return task, func() {
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
		_ = c.Delete(ctx)
	}, nil
}

func (e *env) execLatency(n int) (row, error) {
	ctx, cancel := e.ctx()
	defer cancel()
	r := row{name: "exec /bin/true into a running container", unit: "ms"}
	tasks := map[string]containerd.Task{}
	for _, rt := range runtimes {
		t, done, err := e.running(ctx, rt, e.id("exec"))
		if err != nil {
			return r, err
		}
		defer done()
		tasks[rt] = t
	}
	for i := 0; i < n+2; i++ {
		for _, rt := range runtimes {
			spec, _ := tasks[rt].Spec(ctx)
			p := *spec.Process
			p.Args = []string{"/bin/true"}
			t0 := time.Now()
			proc, err := tasks[rt].Exec(ctx, fmt.Sprintf("x%d", i), &p, cio.NullIO)
			if err != nil {
				return r, err
			}
			ch, _ := proc.Wait(ctx)
			if err := proc.Start(ctx); err != nil {
				return r, err
			}
			<-ch
			if _, err := proc.Delete(ctx); err != nil {
				return r, err
			}
			d := ms(time.Since(t0))
			if i < 2 {
				continue
			}
			if rt == raind {
				r.raind = append(r.raind, d)
			} else {
				r.runc = append(r.runc, d)
			}
		}
	}
	return r, nil
}

// shimPids lists the shims of runtime rt serving our containerd.
func (e *env) shimPids(rt string) []int {
	bin := "containerd-shim-raind-v2"
	if rt == runc {
		bin = "containerd-shim-runc-v2"
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && filepath.Base(args[0]) == bin && strings.Contains(string(b), e.sock) && args[1] != "raind-init" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mem is a memory reading in MiB, summed over shims.
type mem struct {
	// rss counts every resident page; pss shares each page among the
	// processes that map it; priv (Private_Clean + Private_Dirty) is what
	// no other process maps, the part that grows with the number of
	// shims on a node, since the binary's pages are shared.
	rss, pss, priv float64
}

// memKinds names mem's fields in row order.
var memKinds = [3]string{"RSS", "PSS", "private memory"}

func (m mem) values() [3]float64 { return [3]float64{m.rss, m.pss, m.priv} }

func (m mem) minus(o mem) mem { return mem{m.rss - o.rss, m.pss - o.pss, m.priv - o.priv} }

func (m mem) div(n float64) mem { return mem{m.rss / n, m.pss / n, m.priv / n} }

// memOf reads smaps_rollup of every pid.
func memOf(pids []int) mem {
	var m mem
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseFloat(f[1], 64)
			switch f[0] {
			case "Rss:":
				m.rss += v / 1024
			case "Pss:":
				m.pss += v / 1024
			case "Private_Clean:", "Private_Dirty:":
				m.priv += v / 1024
			}
		}
	}
	return m
}

// memRows are the three rows of one memory measurement; name has a %s
// for the kind.
type memRows [3]row

func newMemRows(name string) memRows {
	var r memRows
	for i, k := range memKinds {
		r[i] = row{name: fmt.Sprintf(name, k), unit: "MiB"}
	}
	return r
}

// put records m for runtime rt.
func (r *memRows) put(rt string, m mem) {
	for i, v := range m.values() {
		if rt == raind {
			r[i].raind = append(r[i].raind, v)
		} else {
			r[i].runc = append(r[i].runc, v)
		}
	}
}

// settleTime is how long the settled-memory containers run before they
// are measured: past the Go runtime's forced collection, which comes two
// minutes after the previous one. A Go shim's resident size grows at its
// collections (the collector's mark-bit arenas are cleared and kept), so
// a figure taken before any has run flatters both shims.
const settleTime = 150 * time.Second

// probeEvery is the exec interval of the probed container, as a
// Kubernetes exec liveness probe would run.
const probeEvery = 10 * time.Second

// settled runs two containers per runtime for settleTime, one idle and one
// with an exec of /bin/true every probeEvery, and reads their shims. It
// runs after the other parts, so that the probes do not disturb them.
func (e *env) settled() ([]row, error) {
	ctx, cancel := e.ctx()
	defer cancel()
	type shim struct {
		rt, kind string
		pid      int
		task     containerd.Task
	}
	var shims []*shim
	for _, kind := range []string{"idle", "probed"} {
		for _, rt := range runtimes {
			before := map[int]bool{}
			for _, p := range e.shimPids(rt) {
				before[p] = true
			}
			task, done, err := e.running(ctx, rt, e.id("settled-"+kind))
			if err != nil {
				return nil, err
			}
			defer done()
			sh := &shim{rt: rt, kind: kind, task: task}
			for _, p := range e.shimPids(rt) {
				if !before[p] {
					sh.pid = p
				}
			}
			if sh.pid == 0 {
				return nil, fmt.Errorf("no new %s shim for the %s container", rt, kind)
			}
			shims = append(shims, sh)
		}
	}
	fmt.Fprintf(os.Stderr, "  running for %s, probing every %s\n", settleTime, probeEvery)
	deadline := time.Now().Add(settleTime)
	for n := 0; time.Now().Before(deadline); n++ {
		for _, sh := range shims {
			if sh.kind != "probed" {
				continue
			}
			spec, err := sh.task.Spec(ctx)
			if err != nil {
				return nil, err
			}
			p := *spec.Process
			p.Args = []string{"/bin/true"}
			proc, err := sh.task.Exec(ctx, fmt.Sprintf("probe%d", n), &p, cio.NullIO)
			if err != nil {
				return nil, err
			}
			ch, _ := proc.Wait(ctx)
			if err := proc.Start(ctx); err != nil {
				return nil, err
			}
			<-ch
			if _, err := proc.Delete(ctx); err != nil {
				return nil, err
			}
		}
		time.Sleep(min(probeEvery, time.Until(deadline)))
	}
	var rows []row
	for _, kind := range []string{"idle", "probed"} {
		label := "idle"
		if kind == "probed" {
			label = fmt.Sprintf("exec every %ds", int(probeEvery.Seconds()))
		}
		rs := newMemRows(fmt.Sprintf("shim %%s, 1 container, %s, after %ds", label, int(settleTime.Seconds())))
		for _, sh := range shims {
			if sh.kind == kind {
				rs.put(sh.rt, memOf([]int{sh.pid}))
			}
		}
		rows = append(rows, rs[:]...)
	}
	return rows, nil
}

func (e *env) memory() ([]row, error) {
	ctx, cancel := e.ctx()
	defer cancel()
	single := newMemRows("shim %s, 1 container, 2 s after start")
	per := newMemRows("shim %s per container, 20 containers, 20 shims")
	pod := newMemRows("shim %s per extra container, 20 in one pod")
	settle := func() { time.Sleep(2 * time.Second) }
	for _, rt := range runtimes {
		// 20 containers, one shim each; the first alone gives the single
		// container figure.
		var cleanups []func()
		for i := 0; i < 20; i++ {
			_, done, err := e.running(ctx, rt, e.id("mem"))
			if err != nil {
				return nil, err
			}
			cleanups = append(cleanups, done)
			if i == 0 {
				settle()
				single.put(rt, memOf(e.shimPids(rt)))
			}
		}
		settle()
		per.put(rt, memOf(e.shimPids(rt)).div(20))
		for _, c := range cleanups {
			c()
		}
		// One pod: the sandbox id annotation groups the shims.
		group := e.id("pod")
		cleanups = nil
		var one mem
		for i := 0; i < 20; i++ {
			_, done, err := e.running(ctx, rt, e.id("podc"), oci.WithAnnotations(map[string]string{"io.kubernetes.cri.sandbox-id": group}))
			if err != nil {
				return nil, err
			}
			cleanups = append(cleanups, done)
			if i == 0 {
				settle()
				one = memOf(e.shimPids(rt))
			}
		}
		settle()
		pod.put(rt, memOf(e.shimPids(rt)).minus(one).div(19))
		for _, c := range cleanups {
			c()
		}
	}
	var rows []row
	for _, r := range []memRows{single, per, pod} {
		rows = append(rows, r[:]...)
	}
	return rows, nil
}

type counter struct {
	mu sync.Mutex
	n  int64
}

func (c *counter) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.n += int64(len(p))
	c.mu.Unlock()
	return len(p), nil
}

// throughput pushes mib MiB out of and into a container, and through a
// plain pipe on the host with the same programs for reference.
func (e *env) throughput(mib int) ([]row, error) {
	ctx, cancel := e.ctx()
	defer cancel()
	out := row{name: fmt.Sprintf("stdout throughput, %d MiB", mib), unit: "MiB/s", higherWins: true}
	in := row{name: fmt.Sprintf("stdin throughput, %d MiB", mib), unit: "MiB/s", higherWins: true}
	for i := 0; i < 3; i++ {
		for _, rt := range runtimes {
			var n counter
			c, err := e.newContainer(ctx, rt, e.id("out"), oci.WithProcessArgs("/bin/dd", "if=/dev/zero", "bs=1M", fmt.Sprintf("count=%d", mib)))
			if err != nil {
				return nil, err
			}
			task, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &n, io.Discard)))
			if err != nil {
				return nil, err
			}
			ch, _ := task.Wait(ctx)
			t0 := time.Now()
			if err := task.Start(ctx); err != nil {
				return nil, err
			}
			<-ch
			if _, err := task.Delete(ctx); err != nil { // waits for the client's copy
				return nil, err
			}
			d := time.Since(t0).Seconds()
			_ = c.Delete(ctx)
			if n.n != int64(mib)<<20 {
				return nil, fmt.Errorf("%s: %d bytes of %d arrived", rt, n.n, int64(mib)<<20)
			}
			v := float64(mib) / d
			if rt == raind {
				out.raind = append(out.raind, v)
			} else {
				out.runc = append(out.runc, v)
			}

			c, err = e.newContainer(ctx, rt, e.id("in"), oci.WithProcessArgs("/bin/sh", "-c", "cat > /dev/null"))
			if err != nil {
				return nil, err
			}
			pr, pw := io.Pipe()
			task, err = c.NewTask(ctx, cio.NewCreator(cio.WithStreams(pr, io.Discard, io.Discard)))
			if err != nil {
				return nil, err
			}
			ch, _ = task.Wait(ctx)
			if err := task.Start(ctx); err != nil {
				return nil, err
			}
			t0 = time.Now()
			buf := make([]byte, 1<<20)
			for j := 0; j < mib; j++ {
				if _, err := pw.Write(buf); err != nil {
					return nil, err
				}
			}
			pw.Close()
			if err := task.CloseIO(ctx, containerd.WithStdinCloser); err != nil {
				return nil, err
			}
			<-ch
			d = time.Since(t0).Seconds()
			_, _ = task.Delete(ctx)
			_ = c.Delete(ctx)
			v = float64(mib) / d
			if rt == raind {
				in.raind = append(in.raind, v)
			} else {
				in.runc = append(in.runc, v)
			}
		}
	}
	rows := []row{out, in}
	// raind grows its FIFOs (see io/pipe.go), so the fair reference is a
	// pipe of the same size; the default-size pipe is what the issue's
	// "plain pipe" figures were.
	for _, p := range []struct {
		size int
		what string
	}{{0, "default 64 KiB buffer"}, {256 << 10, "256 KiB buffer like raind's FIFOs"}} {
		v, err := plainPipe(mib, p.size)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row{name: fmt.Sprintf("plain pipe on the host, %d MiB, %s (reference, both columns)", mib, p.what), unit: "MiB/s", higherWins: true, raind: []float64{v}, runc: []float64{v}})
	}
	return rows, nil
}

// plainPipe runs the same dd into a pipe this process reads the way
// containerd's cio does (32 KiB reads), the pipe grown to size unless 0.
func plainPipe(mib, size int) (float64, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	if size > 0 {
		if _, err := unix.FcntlInt(r.Fd(), unix.F_SETPIPE_SZ, size); err != nil {
			w.Close()
			return 0, fmt.Errorf("grow pipe: %w", err)
		}
	}
	cmd := exec.Command("busybox", "dd", "if=/dev/zero", "bs=1M", fmt.Sprintf("count=%d", mib))
	cmd.Stdout = w
	t0 := time.Now()
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, err
	}
	var n int64
	buf := make([]byte, 32<<10)
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err != nil {
			break
		}
	}
	_ = cmd.Wait()
	if n != int64(mib)<<20 {
		return 0, fmt.Errorf("pipe moved %d bytes", n)
	}
	return float64(mib) / time.Since(t0).Seconds(), nil
}

// many starts n containers with `conc` workers and reports the wall time
// and the shims' total memory while all of them run.
func (e *env) many(n, conc int) ([]row, error) {
	ctx, cancel := e.ctx()
	defer cancel()
	wall := row{name: fmt.Sprintf("%d containers started, %d at a time: wall time", n, conc), unit: "s"}
	total := row{name: fmt.Sprintf("%d containers: total shim RSS", n), unit: "MiB"}
	for _, rt := range runtimes {
		var mu sync.Mutex
		var cleanups []func()
		var firstErr error
		work := make(chan int)
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := 0; w < conc; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					_, done, err := e.running(ctx, rt, fmt.Sprintf("many-%d-%d", os.Getpid(), i))
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					if done != nil {
						cleanups = append(cleanups, done)
					}
					mu.Unlock()
				}
			}()
		}
		for i := 0; i < n; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
		d := time.Since(t0).Seconds()
		time.Sleep(2 * time.Second)
		rss := memOf(e.shimPids(rt)).rss
		for _, c := range cleanups {
			c()
		}
		if firstErr != nil {
			return nil, firstErr
		}
		if rt == raind {
			wall.raind, total.raind = []float64{d}, []float64{rss}
		} else {
			wall.runc, total.runc = []float64{d}, []float64{rss}
		}
	}
	return []row{wall, total}, nil
}
