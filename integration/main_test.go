// Package integration drives raind through a real containerd: a private
// daemon with its own root, state, sockets and shim socket directory in a
// temporary directory, started by TestMain and stopped when the tests end.
// It owns only that daemon and what it started; it must never touch the
// host's containerd, /run/containerd or processes it did not start.
package integration

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
)

const (
	runtimeName   = "io.containerd.raind.v2"
	testNamespace = "raind-test"
	shimName      = "containerd-shim-raind-v2"
	imageRef      = "docker.io/library/busybox:raind"

	// How long containerd gets to come up, and to go after SIGTERM.
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// env is what TestMain set up; tests only read it.
type env struct {
	repo, cache, dir, socket string
	// cgroup2 runs containerd, and so its shims, in a mount namespace of
	// their own where /sys/fs/cgroup is the cgroup2 hierarchy alone, as
	// on a cgroup v2 host (see cgroupv2daemon_test.go).
	cgroup2 bool
}

func (e env) ctr() string      { return filepath.Join(e.cache, "bin", "ctr") }
func (e env) rootfs() string   { return filepath.Join(e.cache, "rootfs", "busybox") }
func (e env) imageTar() string { return filepath.Join(e.cache, "busybox.tar") }
func (e env) shim() string     { return filepath.Join(e.repo, "bin", shimName) }
func (e env) log() string      { return filepath.Join(e.dir, "containerd.log") }

// testEnv is written once by TestMain before any test runs and only read
// afterwards: the one piece of package state, because TestMain cannot hand
// values to tests any other way.
var testEnv env

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("RAIND_SKIP_INTEGRATION") == "1" {
		fmt.Println("integration: skipped: RAIND_SKIP_INTEGRATION=1")
		return 0
	}
	if os.Geteuid() != 0 {
		fmt.Println("integration: skipped: needs root (containerd, mounts, namespaces, cgroups)")
		return 0
	}
	e, err := setUp()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	testEnv = e
	ctrd, err := startContainerd(e)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		printLogTail(e)
		removeDir(e.dir)
		return 1
	}
	var once sync.Once
	var stopErr error
	teardown := func() {
		once.Do(func() {
			stopErr = errors.Join(ctrd.stop(e), stopCgroupV2())
			removeLinks(e)
			removeDir(e.dir)
			// The per-container cgroups are the shim's to remove; the
			// parents (a namespace's, like runc's, and the CRI pods'
			// cgroup_parent) stay for the next container, so they go
			// here, if empty.
			for _, parent := range []string{testNamespace, nerdctlNamespace, criCgroupParent} {
				dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent))
				for _, d := range dirs {
					_ = os.Remove(d)
				}
			}
		})
	}
	cancel := watchdog(e, teardown)
	code := m.Run()
	cancel()
	if code != 0 {
		printLogTail(e)
	}
	teardown()
	if stopErr != nil {
		fmt.Fprintln(os.Stderr, "integration: stop containerd:", stopErr)
		code = 1
	}
	return code
}

// watchdog tears down on SIGINT or SIGTERM, and shortly before go test's
// -timeout would kill the binary, which would leave the shims and
// containers of a hung test running (containerd itself dies with us). It
// dumps the goroutines first, as the timeout panic would have.
func watchdog(e env, teardown func()) (cancel func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	timer := time.NewTimer(time.Duration(math.MaxInt64))
	if !flag.Parsed() {
		flag.Parse()
	}
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, ok := f.Value.(flag.Getter).Get().(time.Duration); ok && d > 0 {
			timer.Reset(d - min(30*time.Second, d/10))
		}
	}
	quit := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "integration: %v: stopping containerd in %s\n", s, e.dir)
			teardown()
			os.Exit(2)
		case <-timer.C:
			fmt.Fprintln(os.Stderr, "integration: about to hit -timeout; goroutines:")
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
			printLogTail(e)
			teardown()
			os.Exit(1)
		case <-quit:
		}
	}()
	return func() {
		signal.Stop(sigs)
		timer.Stop()
		close(quit)
	}
}

// setUp finds the repo and cache, builds the shim unless make just did,
// installs missing dependencies and makes the daemon's directory.
func setUp() (env, error) {
	repo, err := filepath.Abs("..")
	if err != nil {
		return env{}, err
	}
	cache := os.Getenv("RAIND_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return env{}, fmt.Errorf("no RAIND_CACHE and no home: %w", err)
		}
		cache = filepath.Join(home, ".cache", "raind")
	}
	e := env{repo: repo, cache: cache}

	if _, err := os.Stat(e.shim()); err != nil || os.Getenv("RAIND_NO_BUILD") != "1" {
		// The Makefile's build, so tests run the binary that ships
		// (static, same tags).
		build := exec.Command("make", "build")
		build.Dir = repo
		if out, err := build.CombinedOutput(); err != nil {
			return env{}, fmt.Errorf("build shim: %w\n%s", err, out)
		}
	}

	for _, p := range []string{filepath.Join(cache, "bin", "containerd"), e.ctr(), filepath.Join(e.rootfs(), "bin", "sh"), e.imageTar()} {
		if _, err := os.Stat(p); err != nil {
			deps := exec.Command(filepath.Join(repo, "hack", "install-deps.sh"))
			deps.Env = append(os.Environ(), "RAIND_CACHE="+cache)
			deps.Stdout, deps.Stderr = os.Stderr, os.Stderr
			if err := deps.Run(); err != nil {
				return env{}, fmt.Errorf("hack/install-deps.sh: %w", err)
			}
			break
		}
	}

	// Short, so the shim socket directory under it fits containerd's limit.
	e.dir, err = os.MkdirTemp("/tmp", "raind-itest-")
	if err != nil {
		return env{}, err
	}
	e.socket = filepath.Join(e.dir, "containerd.sock")
	return e, nil
}

// daemon is the containerd TestMain started; done is closed once it has
// been reaped.
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startContainerd runs containerd with the config hack/containerd.sh
// writes, as our child: it dies with the test binary (Pdeathsig), even
// when go test's -timeout kills us before cleanup can run.
func startContainerd(e env) (*daemon, error) {
	cfg := exec.Command(filepath.Join(e.repo, "hack", "containerd.sh"), "config")
	cfg.Env = append(os.Environ(), "RAIND_CACHE="+e.cache, "RAIND_CTRD_DIR="+e.dir)
	cfg.Stderr = os.Stderr
	out, err := cfg.Output()
	if err != nil {
		return nil, fmt.Errorf("hack/containerd.sh config: %w", err)
	}
	config := strings.TrimSpace(string(out))

	logf, err := os.OpenFile(e.log(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(e.cache, "bin", "containerd"), "--config", config)
	if e.cgroup2 {
		cmd = cgroup2Command(cmd)
	}
	cmd.Env = append(withoutEnv(os.Environ(), "PATH"),
		"PATH="+filepath.Join(e.repo, "bin")+":"+filepath.Join(e.cache, "bin")+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group keeps a terminal's ^C for us; Pdeathsig
	// stops it if we die without cleaning up.
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Pdeathsig = true, syscall.SIGTERM

	d := &daemon{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the forking thread exits, not the process:
		// this thread stays ours until containerd is reaped.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		d.err = cmd.Wait()
		close(d.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "containerd.pid"), []byte(fmt.Sprint(cmd.Process.Pid)), 0o644); err != nil {
		_ = d.stop(e)
		return nil, err
	}

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-d.done:
			return nil, fmt.Errorf("containerd exited at start: %v", d.err)
		default:
		}
		if err := ping(e.socket); err == nil {
			return d, nil
		} else if time.Now().After(deadline) {
			_ = d.stop(e)
			return nil, fmt.Errorf("containerd not ready after %s: %w", startTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ping(socket string) error {
	if _, err := os.Stat(socket); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := containerd.New(socket, containerd.WithTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Version(ctx)
	return err
}

// stop removes leftover tasks and containers through containerd, stops it
// by its pid (SIGTERM, then SIGKILL after stopTimeout), then kills any shim
// still serving its socket: tests should leave none, so that is an error.
func (d *daemon) stop(e env) error {
	var errs []error
	select {
	case <-d.done:
	default:
		if left := cleanupTasks(e.socket); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "integration: removed leftover tasks/containers: %v\n", left)
		}
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(stopTimeout):
			errs = append(errs, fmt.Errorf("containerd %d ignored SIGTERM for %s; killed", d.cmd.Process.Pid, stopTimeout))
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
	if pids := shimPidsFor(e.socket); len(pids) > 0 {
		errs = append(errs, fmt.Errorf("shims still running after containerd stopped, killed: %v", pids))
		for _, pid := range pids {
			// Its children are container inits it started: killing one
			// ends the container's whole pid namespace.
			for _, child := range childrenOf(pid) {
				_ = syscall.Kill(child, syscall.SIGKILL)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return errors.Join(errs...)
}

// childrenOf lists the children of pid, from all its threads.
func childrenOf(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(field); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// cleanupTasks deletes every task and container left in any namespace, so
// their shims exit and unmount what they mounted. It returns what it found.
func cleanupTasks(socket string) []string {
	c, err := containerd.New(socket, containerd.WithTimeout(5*time.Second))
	if err != nil {
		return nil
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return nil
	}
	var left []string
	for _, ns := range nss {
		nctx := withNamespace(ctx, ns)
		ctrs, err := c.Containers(nctx)
		if err != nil {
			continue
		}
		for _, ctr := range ctrs {
			left = append(left, ns+"/"+ctr.ID())
			if task, err := ctr.Task(nctx, nil); err == nil {
				_, _ = task.Delete(nctx, containerd.WithProcessKill)
			}
			_ = ctr.Delete(nctx, containerd.WithSnapshotCleanup)
		}
	}
	return left
}

// linksFile lists the network interfaces that the tests' CNI plugins
// created on the host (nerdctl's and CRI's bridges), one a line, for
// removeLinks.
func (e env) linksFile() string { return filepath.Join(e.dir, "links") }

// claimLink records that interface name is the tests' to remove, unless it
// exists already: then someone else made it, and it stays.
func (e env) claimLink(name string) error {
	if _, err := net.InterfaceByName(name); err == nil {
		return nil
	}
	f, err := os.OpenFile(e.linksFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintln(f, name)
	return err
}

// removeLinks deletes the interfaces claimLink recorded.
func removeLinks(e env) {
	b, _ := os.ReadFile(e.linksFile())
	for _, name := range strings.Fields(string(b)) {
		if _, err := net.InterfaceByName(name); err != nil {
			continue
		}
		if out, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "integration: remove interface %s: %v %s\n", name, err, out)
		}
	}
}

// removeDir unmounts whatever is still mounted under dir, deepest first,
// then removes it.
func removeDir(dir string) {
	for attempt := 0; attempt < 5; attempt++ {
		mounts := mountsUnder(dir)
		if len(mounts) == 0 {
			break
		}
		for _, m := range mounts {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				fmt.Fprintf(os.Stderr, "integration: unmount %s: %v\n", m, err)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(os.Stderr, "integration: remove %s: %v\n", dir, err)
	}
}

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMountPath(fields[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+3 < len(p) {
			var v byte
			ok := true
			for _, c := range []byte(p[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + (c - '0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func printLogTail(e env) {
	b, err := os.ReadFile(e.log())
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	fmt.Fprintf(os.Stderr, "--- containerd log (last %d lines of %s) ---\n%s\n", len(lines), e.log(), strings.Join(lines, "\n"))
}

func withoutEnv(environ []string, key string) []string {
	out := environ[:0:0]
	for _, kv := range environ {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}
