package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
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

// A second private containerd for the cgroup v2 tests. Most users run
// raind on a cgroup v2 host, but a test machine may be a v1 or hybrid one
// whose only cgroup2 is a side hierarchy (/sys/fs/cgroup/unified) without
// controllers. This containerd runs in a mount namespace of its own in
// which /sys/fs/cgroup is that cgroup2 alone, so that containerd, the
// shims it starts (they inherit the namespace) and the containers see a
// v2 host: statfs("/sys/fs/cgroup") says cgroup2, and mountinfo lists no
// v1 hierarchy. It is started by the first test that asks for it and
// stopped at teardown; its mount namespace dies with its last process.

// cgroupV2Namespace is the containerd namespace of the v2 tests, and so
// the cgroup parent of their containers (containerd's default
// cgroupsPath is /<namespace>/<id>).
const cgroupV2Namespace = "raind-test-v2"

// cgroupV2Daemon is the second containerd, once started.
type cgroupV2Daemon struct {
	mu   sync.Mutex
	once sync.Once
	err  error
	e    env
	d    *daemon
	// mntns is the daemon's mount namespace (the /proc/<pid>/ns/mnt
	// link), by which stop finds any process left in it.
	mntns string
	// hostRoot is where the test, outside the namespace, sees the same
	// cgroup2 hierarchy.
	hostRoot string
}

// cgroupV2State is the v2 daemon of this test binary, like criState: set
// up once by the first v2 test and only read afterwards, but for stop.
var cgroupV2State cgroupV2Daemon

// cgroup2Command wraps containerd's command: a new mount namespace
// (private: Go makes the whole tree MS_PRIVATE when it unshares one, and
// the script says so again), every cgroup mount under /sys/fs/cgroup
// unmounted there, the cgroup2 mounted in their place, then containerd
// exec'd with the same pid.
func cgroup2Command(cmd *exec.Cmd) *exec.Cmd {
	const script = `set -e
mount --make-rprivate /
if mountpoint -q /sys/fs/cgroup; then umount -R /sys/fs/cgroup; fi
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
exec "$@"`
	w := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, cmd.Args...)...)
	w.Path = "/bin/sh"
	w.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	return w
}

// hostCgroup2Root is the host's cgroup2 mount under /sys/fs/cgroup: the
// whole of it on a v2 host, /sys/fs/cgroup/unified on a hybrid one; ""
// without one.
func hostCgroup2Root() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	found := ""
	s := bufio.NewScanner(f)
	for s.Scan() {
		pre, post, ok := strings.Cut(s.Text(), " - ")
		fields, rest := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(rest) < 1 || rest[0] != "cgroup2" || fields[3] != "/" {
			continue
		}
		mp := unescapeMountPath(fields[4])
		if mp == "/sys/fs/cgroup" {
			return mp
		}
		if strings.HasPrefix(mp, "/sys/fs/cgroup/") && found == "" {
			found = mp
		}
	}
	return found
}

// setupCgroupV2 starts the v2 containerd on first use and returns its
// environment and where the host sees its cgroup2.
func setupCgroupV2(t *testing.T) (env, string) {
	t.Helper()
	st := &cgroupV2State
	st.once.Do(func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		st.hostRoot = hostCgroup2Root()
		if st.hostRoot == "" {
			st.err = errors.New("no cgroup2 mounted under /sys/fs/cgroup")
			return
		}
		e := testEnv
		e.cgroup2 = true
		dir, err := os.MkdirTemp("/tmp", "raind-v2-")
		if err != nil {
			st.err = err
			return
		}
		e.dir, e.socket = dir, filepath.Join(dir, "containerd.sock")
		d, err := startContainerd(e)
		if err != nil {
			printLogTail(e)
			removeDir(dir)
			st.err = fmt.Errorf("cgroup v2 containerd: %w", err)
			return
		}
		st.e, st.d = e, d
		st.mntns, err = os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", d.cmd.Process.Pid))
		if err != nil {
			st.err = err
			return
		}
		if self, _ := os.Readlink("/proc/self/ns/mnt"); self == st.mntns {
			st.err = errors.New("the v2 containerd shares our mount namespace")
		}
	})
	if st.err != nil {
		if st.hostRoot == "" {
			t.Skip(st.err)
		}
		t.Fatal(st.err)
	}
	return st.e, st.hostRoot
}

// stopCgroupV2 stops the v2 containerd if a test started it: through
// daemon.stop (leftover tasks deleted, containerd stopped by pid, stray
// shims killed), then any process still in its mount namespace is killed
// and named in the error, and the namespace's cgroup parent and the
// daemon's directory are removed.
func stopCgroupV2() error {
	st := &cgroupV2State
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.d == nil {
		return nil
	}
	errs := []error{st.d.stop(st.e)}
	if st.mntns != "" {
		// A shim that containerd's last delete told to go may still be
		// on its way out.
		deadline := time.Now().Add(5 * time.Second)
		left := pidsInMountNS(st.mntns)
		for len(left) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			left = pidsInMountNS(st.mntns)
		}
		if len(left) > 0 {
			var named []string
			for _, pid := range left {
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				named = append(named, fmt.Sprintf("%d (%s)", pid, strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")))
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			errs = append(errs, fmt.Errorf("processes left in the v2 containerd's mount namespace, killed: %s", strings.Join(named, ", ")))
		}
	}
	// The containers' cgroups are the shims' to remove; the namespace's
	// parent stays for the next container and goes here. A container
	// cgroup still there is a leak: its processes are killed (the
	// cgroup is ours, under the tests' namespace) and it is removed.
	parent := filepath.Join(st.hostRoot, cgroupV2Namespace)
	left, _ := filepath.Glob(filepath.Join(parent, "*", "cgroup.procs"))
	for _, procs := range left {
		dir := filepath.Dir(procs)
		errs = append(errs, fmt.Errorf("container cgroup %s left behind", dir))
		_ = os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, dir := range append(dirsOf(left), parent) {
		for {
			err := os.Remove(dir)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("remove v2 cgroup: %w", err))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		printLogTail(st.e)
	}
	removeDir(st.e.dir)
	st.d = nil
	return err
}

func dirsOf(files []string) []string {
	var out []string
	for _, f := range files {
		out = append(out, filepath.Dir(f))
	}
	return out
}

// pidsInMountNS lists the processes in mount namespace ns.
func pidsInMountNS(ns string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "mnt")); err == nil && l == ns {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cgroupV2Client is a client of the v2 containerd, in the v2 tests'
// namespace, closed when the test ends; ctx carries that namespace.
func cgroupV2Client(t *testing.T, timeout time.Duration) (context.Context, *containerd.Client, string) {
	t.Helper()
	e, hostRoot := setupCgroupV2(t)
	c, err := containerd.New(e.socket, containerd.WithDefaultNamespace(cgroupV2Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("containerd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), cgroupV2Namespace), timeout)
	t.Cleanup(cancel)
	return ctx, c, hostRoot
}
