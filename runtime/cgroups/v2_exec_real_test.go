package cgroups

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestV2RealExecProcsFiles: once the cgroup has a child with a controller
// enabled for it, the kernel refuses the cgroup any process (EBUSY), and
// an exec joins init's cgroup below instead; init outside the cgroup is
// refused by name. Needs a controller on the cgroup2 (hugetlb on a hybrid
// host).
func TestV2RealExecProcsFiles(t *testing.T) {
	mountpoint := unifiedForTest(t)
	b, err := os.ReadFile(filepath.Join(mountpoint, "cgroup.controllers"))
	if err != nil || !slices.Contains(strings.Fields(string(b)), "hugetlb") {
		t.Skip("no hugetlb controller on the cgroup2 hierarchy")
	}
	path := uniquePath(t)
	// The limit has the hugetlb controller enabled down to the cgroup.
	m, err := newV2(mountpoint, path, &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mountpoint, path)
	sub := filepath.Join(dir, "sub")
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = os.Remove(sub); _ = m.Delete() })
	if got, err := m.ExecProcsFiles(os.Getpid()); err != nil || !slices.Equal(got, m.ProcsFiles()) {
		t.Fatalf("ExecProcsFiles of a leaf cgroup: %v %v, want %v", got, err, m.ProcsFiles())
	}

	init := startIn(t, m)
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, w := range [][2]string{{filepath.Join(sub, "cgroup.procs"), strconv.Itoa(init.Process.Pid)}, {filepath.Join(dir, "cgroup.subtree_control"), "+hugetlb"}} {
		if err := os.WriteFile(w[0], []byte(w[1]), 0); err != nil {
			t.Fatal(err)
		}
	}
	// A new process moved in as the exec's constructor moves itself.
	join := func(procs string) error {
		p := exec.Command("sleep", "100")
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = p.Process.Kill(); _ = p.Wait() }()
		return os.WriteFile(procs, []byte(strconv.Itoa(p.Process.Pid)), 0)
	}
	if err := join(m.ProcsFiles()[0]); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("joining a cgroup with a controller enabled for its children: %v, want EBUSY", err)
	}
	got, err := m.ExecProcsFiles(init.Process.Pid)
	if err != nil || !slices.Equal(got, []string{filepath.Join(sub, "cgroup.procs")}) {
		t.Fatalf("ExecProcsFiles: %v %v, want init's cgroup %s", got, err, sub)
	}
	if err := join(got[0]); err != nil {
		t.Errorf("joining init's cgroup: %v", err)
	}
	// The test process is not in the cgroup.
	if _, err := m.ExecProcsFiles(os.Getpid()); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("ExecProcsFiles with init outside the cgroup: %v, want ErrFailedPrecondition", err)
	}
}
