package rootfs

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const childEnv = "RAIND_ROOTFS_CHILD"

// childScript is what the container runs; the parent reads its output.
const childScript = "cat /proc/self/mountinfo; echo ---; ls -la /dev; echo ---; touch /x && echo RW || echo RO"

type childConfig struct {
	Spec    *specs.Spec
	Rootfs  string
	NoPivot bool
}

// TestMain lets the test binary be the container's init: in a child given
// fresh mount, pid, uts and ipc namespaces, it builds the root and execs a
// shell in it. Nothing it mounts outlives the child's mount namespace.
func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(child(cfg))
	}
	os.Exit(m.Run())
}

func child(cfg string) int {
	var c childConfig
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		os.Stderr.WriteString(err.Error())
		return 3
	}
	if err := Setup(NewLinux(), c.Spec, c.Rootfs, Options{NoPivot: c.NoPivot}); err != nil {
		os.Stderr.WriteString("setup: " + err.Error())
		return 4
	}
	if err := ProtectPaths(NewLinux(), c.Spec); err != nil {
		os.Stderr.WriteString("protect paths: " + err.Error())
		return 4
	}
	err := syscall.Exec("/bin/sh", []string{"sh", "-c", childScript}, []string{"PATH=/bin"})
	os.Stderr.WriteString("exec: " + err.Error())
	return 5
}

// busyboxRootfs builds a minimal image: a static busybox and its links.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox (apt-get install busybox-static)")
	}
	if out, err := exec.Command("file", "-L", bb).Output(); err == nil && !strings.Contains(string(out), "statically linked") {
		t.Skip("busybox is not static")
	}
	root := filepath.Join(t.TempDir(), "rootfs")
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"sh", "ls", "cat", "mount", "stat", "touch"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", l)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func containerdSpec(t *testing.T, readonly bool) *specs.Spec {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), "default")
	s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "rootfs-test"})
	if err != nil {
		t.Fatal(err)
	}
	s.Root.Readonly = readonly
	// What CRI adds to containerd's defaults.
	s.Mounts = append(s.Mounts, specs.Mount{
		Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
		Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"},
	})
	return s
}

// mountLine is one /proc/self/mountinfo line, the fields the test needs.
type mountLine struct {
	point, opts, fstype string
	// optional is the optional fields: propagation such as shared:N.
	optional string
}

func parseMountinfo(s string) map[string]mountLine {
	m := map[string]mountLine{}
	for _, line := range strings.Split(s, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, p := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(p) < 1 {
			continue
		}
		// Later lines are mounted on top: they are what the path shows.
		m[f[4]] = mountLine{point: f[4], opts: f[5], fstype: p[0], optional: strings.Join(f[6:], " ")}
	}
	return m
}

func runContainer(t *testing.T, c childConfig) (mounts map[string]mountLine, dev, rw string) {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{childEnv + "=" + string(b)}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("container: %v: %s\n%s", err, ee.Stderr, out)
		}
		t.Fatalf("container: %v", err)
	}
	parts := strings.Split(string(out), "---\n")
	if len(parts) != 3 {
		t.Fatalf("output:\n%s", out)
	}
	return parseMountinfo(parts[0]), parts[1], strings.TrimSpace(parts[2])
}

func hostMountinfo(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSetupRealContainer(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	for _, tc := range []struct {
		name     string
		readonly bool
		noPivot  bool
		prop     string
	}{
		{"pivot-readonly", true, false, ""},
		{"move-chroot-rw", false, true, ""},
		{"pivot-rshared", false, false, "rshared"},
		{"move-chroot-rshared", false, true, "rshared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hostMountinfo(t)
			root := busyboxRootfs(t)
			spec := containerdSpec(t, tc.readonly)
			spec.Linux.RootfsPropagation = tc.prop
			mounts, dev, rw := runContainer(t, childConfig{Spec: spec, Rootfs: root, NoPivot: tc.noPivot})
			if shared := strings.Contains(mounts["/"].optional, "shared:"); shared != (tc.prop == "rshared") {
				t.Errorf("root propagation %q with rootfsPropagation %q", mounts["/"].optional, tc.prop)
			}
			if after := hostMountinfo(t); after != before {
				t.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			t.Logf("mounts: %v\n/dev:\n%s", mounts, dev)
			check := func(point, fstype, opt string) {
				t.Helper()
				m, ok := mounts[point]
				if !ok {
					t.Errorf("no mount at %s in %v", point, mounts)
					return
				}
				if m.fstype != fstype {
					t.Errorf("%s: type %s, want %s", point, m.fstype, fstype)
				}
				if opt != "" && !strings.Contains(","+m.opts+",", ","+opt+",") {
					t.Errorf("%s: options %s, want %s", point, m.opts, opt)
				}
			}
			check("/proc", "proc", "nosuid")
			check("/sys", "sysfs", "ro")
			check("/dev", "tmpfs", "nosuid")
			check("/dev/pts", "devpts", "noexec")
			check("/dev/shm", "tmpfs", "nodev")
			check("/dev/mqueue", "mqueue", "")
			// Masked files get /dev/null, which shows the type of the
			// /dev tmpfs; masked directories a read-only tmpfs.
			check("/proc/keys", "tmpfs", "")
			check("/proc/acpi", "tmpfs", "ro")
			if _, err := os.Stat("/proc/kcore"); err == nil {
				check("/proc/kcore", "tmpfs", "")
			}
			check("/proc/sys", "proc", "ro")
			if tc.readonly {
				check("/", mounts["/"].fstype, "ro")
			} else {
				check("/", mounts["/"].fstype, "rw")
			}
			if m, ok := mounts["/sys/fs/cgroup"]; !ok || !strings.HasPrefix(m.opts, "ro") {
				t.Errorf("/sys/fs/cgroup: %v %v", m, ok)
			}
			// This host's cgroups may be v1 (a hierarchy per controller)
			// or v2; either way the hierarchies are there, read-only.
			if m, ok := mounts["/sys/fs/cgroup/memory"]; ok && !strings.HasPrefix(m.opts, "ro") {
				t.Errorf("/sys/fs/cgroup/memory: %v", m)
			}
			for point := range mounts {
				if strings.HasPrefix(point, root) {
					t.Errorf("host path visible in the container: %s", point)
				}
			}
			for _, want := range []string{" null\n", " zero\n", " urandom\n", " tty\n", "fd -> /proc/self/fd", "stdin -> /proc/self/fd/0", "ptmx -> pts/ptmx"} {
				if !strings.Contains(dev, want) {
					t.Errorf("/dev lacks %q:\n%s", want, dev)
				}
			}
			for _, line := range strings.Split(dev, "\n") {
				if strings.HasSuffix(line, " null") && !strings.HasPrefix(line, "crw-rw-rw-") {
					t.Errorf("/dev/null is not a 0666 character device: %s", line)
				}
			}
			wantRW := "RW"
			if tc.readonly {
				wantRW = "RO"
			}
			if rw != wantRW {
				t.Errorf("root writable: %s, want %s", rw, wantRW)
			}
		})
	}
}
