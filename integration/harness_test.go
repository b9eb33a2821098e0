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
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// ctrCmd builds a ctr command against the private containerd.
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
			pw.WriteString(stdin)
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
		return out.String(), errb.String(), -1
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

// filterWarnings drops containerd's cgroup v1 deprecation notice.
func filterWarnings(s string) string {
	var keep []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.Contains(l, "DEPRECATION") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// newClient returns a containerd client on the private socket.
func newClient(t *testing.T) *containerd.Client {
	t.Helper()
	c, err := containerd.New(testEnv.socket, containerd.WithDefaultNamespace(testNamespace))
	if err != nil {
		t.Fatalf("containerd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// busyboxRootfs is the shared read-only rootfs; tests that write use
// copyRootfs.
func busyboxRootfs(t *testing.T) string { return testEnv.rootfs() }

// copyRootfs makes a private, writable copy of the busybox rootfs.
func copyRootfs(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", testEnv.rootfs(), dst).CombinedOutput(); err != nil {
		t.Fatalf("copy rootfs: %v %s", err, out)
	}
	return dst
}

var importOnce sync.Once

// importBusyboxImage imports the locally built busybox OCI image.
func importBusyboxImage(t *testing.T, c *containerd.Client) containerd.Image {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	importOnce.Do(func() {
		f, err := os.Open(testEnv.imageTar())
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		imgs, err := c.Import(ctx, f)
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		for _, i := range imgs {
			img := containerd.NewImage(c, i)
			if err := img.Unpack(ctx, ""); err != nil {
				t.Fatalf("unpack: %v", err)
			}
		}
	})
	img, err := c.GetImage(ctx, "docker.io/library/busybox:raind")
	if err != nil {
		t.Fatalf("get image: %v", err)
	}
	return img
}

// shimPids lists raind shims serving our private containerd.
func shimPids(t *testing.T) []int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if !strings.HasSuffix(args[0], "containerd-shim-raind-v2") || len(args) < 2 || args[1] == "raind-init" {
			continue
		}
		if strings.Contains(string(b), testEnv.socket) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestHarnessContainerdUp(t *testing.T) {
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	v, err := newClient(t).Version(ctx)
	if err != nil || !strings.HasPrefix(v.Version, "2.") {
		t.Fatalf("version %+v %v", v, err)
	}
}
