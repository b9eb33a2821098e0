package integration

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

// ctrCmd builds a ctr command against the private containerd, in the test
// namespace.
func ctrCmd(args ...string) *exec.Cmd {
	full := append([]string{"--address", testEnv.socket, "--namespace", testNamespace}, args...)
	return exec.Command(testEnv.ctr(), full...)
}

// runCtr runs ctr with stdin and returns its output and exit code; it
// only reports through t.Errorf, so goroutines may call it. A ctr
// still running after timeout is killed with SIGKILL: it forwards SIGTERM
// to the task instead of dying.
func runCtr(t *testing.T, timeout time.Duration, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := ctrCmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		// ctr sends CloseIO only when its stdin ends after the task
		// exists; feeding stdin late avoids the race every shim has.
		pr, pw, err := os.Pipe()
		if err != nil {
			return "", err.Error(), -1
		}
		cmd.Stdin = pr
		go func() {
			time.Sleep(500 * time.Millisecond)
			_, _ = pw.WriteString(stdin)
			pw.Close()
		}()
		defer pr.Close()
	}
	if err := cmd.Start(); err != nil {
		return "", "start ctr: " + err.Error(), -1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		t.Errorf("ctr %v timed out after %s", args, timeout)
		return out.String(), filterWarnings(errb.String()), -1
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		return out.String(), "ctr: " + err.Error(), -1
	}
	return out.String(), filterWarnings(errb.String()), code
}

// filterWarnings drops containerd's cgroup v1 deprecation notice, which
// ctr prints on every call on a cgroup v1 host.
func filterWarnings(s string) string {
	var keep []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.Contains(l, "DEPRECATION") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

func withNamespace(ctx context.Context, ns string) context.Context {
	return namespaces.WithNamespace(ctx, ns)
}

// newClient returns a containerd client on the private socket, in the
// test namespace, closed when the test ends.
func newClient(t *testing.T) *containerd.Client {
	t.Helper()
	c, err := containerd.New(testEnv.socket, containerd.WithDefaultNamespace(testNamespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("containerd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// busyboxRootfs is the shared rootfs in the cache. Tests must not write to
// it (nor run a container on it with a writable root that writes): they use
// copyRootfs.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	return testEnv.rootfs()
}

// copyRootfs makes a private, writable copy of the busybox rootfs, removed
// when the test ends.
func copyRootfs(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", testEnv.rootfs(), dst).CombinedOutput(); err != nil {
		t.Fatalf("copy rootfs: %v %s", err, out)
	}
	return dst
}

// importBusyboxImage imports the locally built busybox OCI image (once per
// containerd; later calls find it) and unpacks it for the default
// snapshotter.
func importBusyboxImage(t *testing.T, c *containerd.Client) containerd.Image {
	t.Helper()
	ctx := withNamespace(context.Background(), testNamespace)
	lock, err := os.OpenFile(filepath.Join(testEnv.dir, "import.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	// Parallel tests import at once otherwise, and containerd refuses
	// the second writer of a blob ("ref locked").
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock image import: %v", err)
	}
	img, err := c.GetImage(ctx, imageRef)
	if errdefs.IsNotFound(err) {
		f, ferr := os.Open(testEnv.imageTar())
		if ferr != nil {
			t.Fatal(ferr)
		}
		defer f.Close()
		if _, err := c.Import(ctx, f); err != nil {
			t.Fatalf("import %s: %v", testEnv.imageTar(), err)
		}
		img, err = c.GetImage(ctx, imageRef)
	}
	if err != nil {
		t.Fatalf("get image %s: %v", imageRef, err)
	}
	unpacked, err := img.IsUnpacked(ctx, "")
	if err != nil {
		t.Fatalf("image unpacked? %v", err)
	}
	if !unpacked {
		if err := img.Unpack(ctx, ""); err != nil {
			t.Fatalf("unpack %s: %v", imageRef, err)
		}
	}
	return img
}

// shimPids lists the raind shim daemons serving our private containerd:
// those started with "-address <our socket>". Container inits re-executed
// from the same binary are not shims and are left out.
func shimPids(t *testing.T) []int {
	t.Helper()
	return shimPidsFor(testEnv.socket)
}

func shimPidsFor(socket string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) != shimName {
			continue
		}
		for i := 1; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == socket {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func TestHarnessContainerdUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := newClient(t).Version(ctx)
	if err != nil {
		t.Fatalf("containerd version: %v", err)
	}
	if !strings.HasPrefix(v.Version, "2.") {
		t.Fatalf("containerd version %q, want 2.x", v.Version)
	}
	if fi, err := os.Stat(testEnv.shim()); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("shim %s not built: %v", testEnv.shim(), err)
	}
}

// TestHarnessRootfsCopy checks that copyRootfs gives a writable tree with
// the busybox applets, and that writing to it leaves the shared one alone.
func TestHarnessRootfsCopy(t *testing.T) {
	shared := busyboxRootfs(t)
	private := copyRootfs(t)
	if private == shared {
		t.Fatalf("copyRootfs returned the shared rootfs %s", shared)
	}
	for _, p := range []string{"bin/sh", "bin/true", "etc/passwd", "etc/group"} {
		if _, err := os.Stat(filepath.Join(private, p)); err != nil {
			t.Errorf("copy lacks %s: %v", p, err)
		}
	}
	marker := "raind-harness-" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(filepath.Join(private, "tmp", marker), nil, 0o600); err != nil {
		t.Fatalf("write into the copy: %v", err)
	}
	if _, err := os.Stat(filepath.Join(shared, "tmp", marker)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("write to the copy showed up in the shared rootfs (%v)", err)
	}
}
