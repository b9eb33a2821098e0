package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestJoinNetworkNamespaceByPath runs a container in the network namespace
// of another, given by path, as CRI does for every container of a pod.
func TestJoinNetworkNamespaceByPath(t *testing.T) {
	_, _, task := runningContainer(t)
	nsPath := fmt.Sprintf("/proc/%d/ns/net", task.Pid())
	want, err := os.Readlink(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	both(t, []string{"--with-ns", "network:" + nsPath}, []oci.SpecOpts{oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: nsPath})},
		[]string{"readlink", "/proc/self/ns/net"}, func(t *testing.T, r result) {
			if strings.TrimSpace(r.stdout) != want {
				t.Fatalf("container net namespace %q, want %q (stderr %q)", r.stdout, want, r.stderr)
			}
		})
}

func TestReadonlyRoot(t *testing.T) {
	both(t, []string{"--read-only"}, []oci.SpecOpts{oci.WithRootFSReadonly()}, []string{"sh", "-c", "touch /x 2>/dev/null && echo rw || echo ro"}, func(t *testing.T, r result) {
		if r.stdout != "ro\n" {
			t.Fatalf("got %q (stderr %q)", r.stdout, r.stderr)
		}
	})
	if r := clientRun(t, nil, "sh", "-c", "touch /tmp/x && echo rw"); r.stdout != "rw\n" {
		t.Fatalf("writable root: %q %q", r.stdout, r.stderr)
	}
}

// TestRootfsPropagation puts the rootfs on a shared mount and mounts
// something under it from the host after the container started: with the
// default rslave it shows up inside, with rprivate it does not.
func TestRootfsPropagation(t *testing.T) {
	for _, tc := range []struct {
		prop string
		want string
	}{{"", "seen\n"}, {"rprivate", "none\n"}} {
		t.Run("propagation="+tc.prop, func(t *testing.T) {
			shared := t.TempDir()
			if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", shared).CombinedOutput(); err != nil {
				t.Fatalf("mount: %v %s", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("umount", "-R", "-l", shared).Run() })
			if out, err := exec.Command("mount", "--make-shared", shared).CombinedOutput(); err != nil {
				t.Fatalf("make-shared: %v %s", err, out)
			}
			rootfs := filepath.Join(shared, "rootfs")
			if out, err := exec.Command("cp", "-a", busyboxRootfs(t), rootfs).CombinedOutput(); err != nil {
				t.Fatalf("copy: %v %s", err, out)
			}
			if err := os.MkdirAll(filepath.Join(rootfs, "mnt", "late"), 0o755); err != nil {
				t.Fatal(err)
			}
			prop := func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
				s.Linux.RootfsPropagation = tc.prop
				return nil
			}
			ctx := testCtx(t, time.Minute)
			c := newClient(t)
			ctr, err := c.NewContainer(ctx, newID("prop"), containerd.WithNewSpec(oci.WithRootFSPath(rootfs), oci.WithProcessArgs("sleep", "1000"), prop), containerd.WithRuntime(runtimeName, nil))
			if err != nil {
				t.Fatal(err)
			}
			defer ctr.Delete(context.WithoutCancel(ctx))
			task, err := ctr.NewTask(ctx, cio.NullIO)
			if err != nil {
				t.Fatal(err)
			}
			defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
			if err := task.Start(ctx); err != nil {
				t.Fatal(err)
			}
			late := filepath.Join(rootfs, "mnt", "late")
			if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", late).CombinedOutput(); err != nil {
				t.Fatalf("late mount: %v %s", err, out)
			}
			if err := os.WriteFile(filepath.Join(late, "marker"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			r := execRun(t, ctx, task, nil, "sh", "-c", "test -f /mnt/late/marker && echo seen || echo none")
			if r.stdout != tc.want {
				t.Fatalf("propagation %q: got %q, want %q (stderr %q)", tc.prop, r.stdout, tc.want, r.stderr)
			}
		})
	}
}

func TestProcessLimitsAndPrivileges(t *testing.T) {
	withSettings := func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 123, Hard: 456}}
		adj := 500
		s.Process.OOMScoreAdj = &adj
		s.Process.NoNewPrivileges = true
		umask := uint32(0o077)
		s.Process.User.Umask = &umask
		s.Process.User.AdditionalGids = []uint32{10, 20}
		caps := []string{"CAP_CHOWN", "CAP_KILL"}
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
		s.Domainname = "example.org"
		return nil
	}
	script := `ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; umask; id -G; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; cat /proc/sys/kernel/domainname`
	r := clientRun(t, []oci.SpecOpts{withSettings}, "sh", "-c", script)
	want := "123\n456\n500\n0077\n0 10 20\nCapEff:\t0000000000000021\nCapBnd:\t0000000000000021\nNoNewPrivs:\t1\nexample.org\n"
	if r.stdout != want || r.code != 0 {
		t.Fatalf("got %q, want %q (stderr %q)", r.stdout, want, r.stderr)
	}
}
