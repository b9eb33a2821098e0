package runtime

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The test binary is also the container init, exactly as the shim binary is.
func TestMain(m *testing.M) {
	if IsInit() {
		InitMain()
	}
	code := m.Run()
	// The per-test cgroups are gone by now; their shared parent too.
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/raind-rt-test")
	for _, d := range dirs {
		_ = os.Remove(d)
	}
	os.Exit(code)
}

// startReaper makes this test process a subreaper that reaps through
// containerd's reaper, as the shim does.
func startReaper(t *testing.T) chan os.Signal {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, unix.SIGCHLD)
	go func() {
		for range sigs {
			_ = reaper.Reap()
		}
	}()
	t.Cleanup(func() { signal.Stop(sigs) })
	return sigs
}

func busybox(t *testing.T) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not installed")
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"sh", "cat", "echo", "hostname", "id", "ls", "sleep", "true"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", app)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func testSpec(rootfs string, args ...string) *specs.Spec {
	return &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: rootfs},
		Hostname: "rt-test",
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/bin"},
			Cwd:  "/",
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: "/raind-rt-test/" + filepath.Base(rootfs),
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.IPCNamespace}, {Type: specs.NetworkNamespace},
			},
		},
	}
}

func TestCreateStartWithoutShim(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	startReaper(t)
	rootfs := busybox(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	ec := reaper.Default.Subscribe()
	defer reaper.Default.Unsubscribe(ec)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := NewConfig(testSpec(rootfs, "sh", "-c", "echo pid=$$ host=$(hostname)"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Create(ctx, CreateOpts{
		ID:      "rt1",
		Config:  cfg,
		Stdio:   Stdio{In: null, Out: w, Err: w},
		Monitor: reaper.Default,
		Cgroups: testCgroups(),
	})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy(context.Background())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("second Start: %v, want FailedPrecondition", err)
	}
	var out bytes.Buffer
	_, _ = out.ReadFrom(r)
	if got := strings.TrimSpace(out.String()); got != "pid=1 host=rt-test" {
		t.Fatalf("output %q", got)
	}
	for e := range ec {
		if e.Pid == c.Init().Pid() {
			if e.Status != 0 {
				t.Fatalf("exit %d", e.Status)
			}
			break
		}
	}
	if err := c.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCreateErrors(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	startReaper(t)
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	create := func(spec *specs.Spec) error {
		cfg, err := NewConfig(spec)
		if err != nil {
			return err
		}
		c, err := Create(ctx, CreateOpts{ID: "bad", Config: cfg, Stdio: Stdio{In: null, Out: null, Err: null}, Monitor: reaper.Default, Cgroups: testCgroups()})
		if err == nil {
			c.Destroy(context.Background())
		}
		return err
	}
	rootfs := busybox(t)
	if err := create(testSpec(rootfs, "/no-such-program")); err == nil || !strings.Contains(err.Error(), "no-such-program") {
		t.Errorf("missing program: %v", err)
	}
	bad := testSpec(rootfs, "true")
	bad.Process.Cwd = "/missing-dir"
	if err := create(bad); err == nil || !strings.Contains(err.Error(), "missing-dir") {
		t.Errorf("bad cwd: %v", err)
	}
	bad = testSpec(rootfs, "true")
	bad.Mounts = append(bad.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/no-such-source", Options: []string{"rbind"}})
	if err := create(bad); err == nil || !strings.Contains(err.Error(), "/data") {
		t.Errorf("bad mount: %v", err)
	}
	if err := create(testSpec("/no-such-rootfs", "true")); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("missing rootfs: %v", err)
	}
	// Nothing may stay behind in the cgroup hierarchy.
	if _, err := os.Stat("/sys/fs/cgroup/memory/raind-rt-test/" + filepath.Base(rootfs)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup left behind: %v", err)
	}
}
