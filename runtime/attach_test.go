package runtime

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// attachingCgroup is a cgroup that must be told the init's pid, as the
// systemd driver's is; it records what the init's cgroups were then.
type attachingCgroup struct {
	Cgroup
	err      error
	pids     []int
	cgroupAt string
}

func (a *attachingCgroup) Attach(pid int) error {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	a.pids = append(a.pids, pid)
	a.cgroupAt = string(b)
	return a.err
}

func attachingCgroups(attachErr error, made *[]*attachingCgroup) Cgroups {
	base := testCgroups()
	return Cgroups{
		New: func(path string, res *specs.LinuxResources) (Cgroup, error) {
			cg, err := base.New(path, res)
			if err != nil {
				return nil, err
			}
			a := &attachingCgroup{Cgroup: cg, err: attachErr}
			*made = append(*made, a)
			return a, nil
		},
		Load: base.Load,
		KillAll: func(cg Cgroup, sig syscall.Signal, timeout time.Duration) error {
			if a, ok := cg.(*attachingCgroup); ok {
				cg = a.Cgroup
			}
			return base.KillAll(cg, sig, timeout)
		},
	}
}

// TestCreateAttachesInit: a cgroup owned by another party (systemd) is told
// the init's pid once the init is in it and before the container runs; if
// it refuses, nothing of the container is left.
func TestCreateAttachesInit(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	startReaper(t)
	rootfs := busybox(t)
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := testSpec(rootfs, "true")
	cfg, err := NewConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	var made []*attachingCgroup
	c, err := Create(ctx, CreateOpts{ID: "attach1", Config: cfg, Stdio: Stdio{In: null, Out: null, Err: null},
		Monitor: reaper.Default, Cgroups: attachingCgroups(nil, &made)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy(context.Background())
	if len(made) != 1 || len(made[0].pids) != 1 || made[0].pids[0] != c.Init().Pid() {
		t.Fatalf("attached %v, want the init %d once", made, c.Init().Pid())
	}
	if !strings.Contains(made[0].cgroupAt, ":"+spec.Linux.CgroupsPath+"\n") {
		t.Errorf("the init was not in its cgroup when attached:\n%s", made[0].cgroupAt)
	}
	if err := c.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}

	made = nil
	spec = testSpec(rootfs, "true")
	cfg, _ = NewConfig(spec)
	_, err = Create(ctx, CreateOpts{ID: "attach2", Config: cfg, Stdio: Stdio{In: null, Out: null, Err: null},
		Monitor: reaper.Default, Cgroups: attachingCgroups(fmt.Errorf("systemd says no: %w", errdefs.ErrUnavailable), &made)})
	if !errdefs.IsUnavailable(err) || len(made) != 1 || len(made[0].pids) != 1 {
		t.Fatalf("Create with a refusing cgroup: %v (%v)", err, made)
	}
	pid := made[0].pids[0]
	for deadline := time.Now().Add(5 * time.Second); unix.Kill(pid, 0) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("init %d outlived the failed create", pid)
		}
	}
	if _, err := testCgroups().Load(spec.Linux.CgroupsPath); !errdefs.IsNotFound(err) {
		t.Errorf("cgroup %s after the failed create: %v", spec.Linux.CgroupsPath, err)
	}
}
