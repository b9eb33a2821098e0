package cgroups

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const allocHelperEnv = "RAIND_CGTEST_ALLOC"

// TestHelperAllocate is not a test: TestV1RealOOMEvents runs the test
// binary with it as a child. Once it reads a line on stdin (it has been
// moved into the cgroup by then), it touches memory until it is killed.
func TestHelperAllocate(t *testing.T) {
	if os.Getenv(allocHelperEnv) == "" {
		t.Skip("only run as a helper process")
	}
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		os.Exit(2)
	}
	// Held, so that the collector cannot give the memory back: 64 GiB
	// is far above any limit a test sets.
	keep := make([][]byte, 1<<16)
	for n := range keep {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep[n] = b
	}
	os.Exit(3)
}

// TestV1RealOOMEvents has the kernel OOM-kill a process in a cgroup with a
// small memory limit and expects the event.
func TestV1RealOOMEvents(t *testing.T) {
	skipUnlessV1(t)
	path := uniquePath(t)
	limit := int64(32 << 20)
	mem := &specs.LinuxMemory{Limit: &limit}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
		mem.Swap = &limit // no escape into swap
	}
	m, err := New(path, &specs.LinuxResources{Memory: mem})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := m.OOMEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := m.OOMKills(); err != nil || n != 0 {
		t.Fatalf("OOM kills of a new cgroup: %d, %v", n, err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAllocate$", "-test.count=1")
	cmd.Env = append(os.Environ(), allocHelperEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := m.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-events:
		if !ok {
			t.Fatal("event channel closed without an event")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no OOM event")
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("helper ended with %v, want SIGKILL", err)
	}
	// Reaped, the victim is counted (the kernel counts before it kills).
	if n, err := m.OOMKills(); err != nil || n != 1 {
		t.Errorf("OOM kills after one kill: %d, %v; want 1", n, err)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	// The kernel signals the removal too: the channel closes.
	select {
	case _, ok := <-events:
		for ok {
			_, ok = <-events
		}
	case <-time.After(10 * time.Second):
		t.Error("event channel still open after the cgroup was removed")
	}
}

// TestV1RealOOMEventsCancel: the channel closes when ctx is done.
func TestV1RealOOMEventsCancel(t *testing.T) {
	skipUnlessV1(t)
	m, err := New(uniquePath(t), &specs.LinuxResources{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Delete() })
	ctx, cancel := context.WithCancel(context.Background())
	events, err := m.OOMEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-events:
		if ok {
			t.Error("an event without an OOM")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event channel still open after cancel")
	}
}

// TestV2FakeOOMEvents drives the library's memory.events watch on a fake
// cgroupfs: inotify sees the writes the kernel would make.
func TestV2FakeOOMEvents(t *testing.T) {
	root := fakeV2(t, "memory", "c1")
	dir := filepath.Join(root, "c1")
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 1\n") // before the watch: not reported
	write("cgroup.events", "populated 1\nfrozen 0\n")
	m, err := loadV2(root, "/c1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := m.OOMEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A rise of max alone is no kill.
	write("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
	write("memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n")
	select {
	case <-events:
	case <-time.After(5 * time.Second):
		t.Fatal("no OOM event")
	}
	select {
	case <-events:
		t.Error("a second event for one kill")
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	select {
	case _, ok := <-events:
		if ok {
			t.Error("event after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event channel still open after cancel")
	}
	// The library's watcher ends once the cgroup is empty.
	write("cgroup.events", "populated 0\nfrozen 0\n")

	if _, err := loadV2Missing(t, root).OOMEvents(context.Background()); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("no memory.events: %v, want ErrNotImplemented", err)
	}
}

// loadV2Missing loads a fake cgroup without a memory controller.
func loadV2Missing(t *testing.T, root string) Manager {
	t.Helper()
	dir := filepath.Join(root, "nomem")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := loadV2(root, "/nomem")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestOOMKillsFake reads the kernel's kill count on fake cgroupfs trees,
// with and without the line older v1 kernels lack.
func TestOOMKillsFake(t *testing.T) {
	subs, root := fakeV1(t, "c1")
	m1, err := loadV1(subs, "/c1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m1.OOMKills(); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("v1 without the oom_kill line: %v, want ErrNotImplemented", err)
	}
	oomControl := filepath.Join(root, "memory", "c1", "memory.oom_control")
	if err := os.WriteFile(oomControl, []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := m1.OOMKills(); err != nil || n != 7 {
		t.Errorf("v1 OOM kills %d, %v; want 7", n, err)
	}
	if err := os.WriteFile(oomControl, []byte("oom_kill x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.OOMKills(); !errors.Is(err, errdefs.ErrInternal) {
		t.Errorf("v1 garbled count: %v, want ErrInternal", err)
	}
	if m, err := loadV1(withoutSubsystem(subs, "memory"), "/c1"); err != nil {
		t.Fatal(err)
	} else if _, err := m.OOMKills(); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("v1 without memory: %v, want ErrNotImplemented", err)
	}

	root2 := fakeV2(t, "memory", "c2")
	if err := os.WriteFile(filepath.Join(root2, "c2", "memory.events"), []byte("low 0\nhigh 0\nmax 9\noom 3\noom_kill 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m2, err := loadV2(root2, "/c2")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := m2.OOMKills(); err != nil || n != 2 {
		t.Errorf("v2 OOM kills %d, %v; want 2", n, err)
	}
	if _, err := loadV2Missing(t, root2).OOMKills(); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("v2 without memory.events: %v, want ErrNotImplemented", err)
	}
	if err := os.RemoveAll(filepath.Join(root2, "c2")); err != nil {
		t.Fatal(err)
	}
	if _, err := m2.OOMKills(); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("v2 cgroup removed: %v, want ErrNotFound", err)
	}
}
