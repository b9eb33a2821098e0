package cgroups

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const openHelperEnv = "RAIND_CGTEST_OPEN"

// TestHelperOpenDevices is not a test: the device filter tests run the
// test binary with it as a child in the cgroup under test. It opens each
// "path:r" or "path:rw" of its environment and prints the outcome.
func TestHelperOpenDevices(t *testing.T) {
	opens := os.Getenv(openHelperEnv)
	if opens == "" {
		t.Skip("only run as a helper process")
	}
	for _, o := range strings.Split(opens, ",") {
		path, mode, _ := strings.Cut(o, ":")
		flag := os.O_RDONLY
		if mode == "rw" {
			flag = os.O_RDWR
		}
		result := "ok"
		f, err := os.OpenFile(path, flag, 0)
		var errno syscall.Errno
		switch {
		case err == nil:
			f.Close()
		case errors.As(err, &errno):
			result = unix.ErrnoName(errno)
		default:
			result = err.Error()
		}
		fmt.Printf("%s %s\n", o, result)
	}
	os.Exit(0)
}

// openInCgroup starts the helper directly in the cgroup at dir
// (clone3 with CLONE_INTO_CGROUP) and returns what each open gave.
func openInCgroup(t *testing.T, dir string, opens ...string) map[string]string {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOpenDevices$", "-test.count=1")
	cmd.Env = append(os.Environ(), openHelperEnv+"="+strings.Join(opens, ","))
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			got[k] = v
		}
	}
	return got
}

func attachedFilters(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	progs, err := deviceFilters(fd)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range progs {
		unix.Close(p)
	}
	return len(progs)
}

// TestV2RealDeviceFilter has the kernel enforce a filter on the cgroup2 at
// /sys/fs/cgroup/unified of a hybrid host, which has no controllers but
// runs device programs all the same.
func TestV2RealDeviceFilter(t *testing.T) {
	mountpoint := unifiedForTest(t)
	path := uniquePath(t)
	dev := func(allow bool, major, minor int64, access string) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: allow, Type: "c", Major: &major, Minor: &minor, Access: access}
	}
	m, err := newV2(mountpoint, path, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		dev(true, 1, 3, "rwm"), // /dev/null
		dev(true, 1, 7, "r"),   // /dev/full, read only
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAll(m, syscall.SIGKILL, time.Second); _ = m.Delete() })
	dir := filepath.Join(mountpoint, path)
	if n := attachedFilters(t, dir); n != 1 {
		t.Errorf("%d programs attached, want 1", n)
	}
	got := openInCgroup(t, dir, "/dev/null:rw", "/dev/zero:r", "/dev/full:r", "/dev/full:rw")
	want := map[string]string{"/dev/null:rw": "ok", "/dev/zero:r": "EPERM", "/dev/full:r": "ok", "/dev/full:rw": "EPERM"}
	if !maps.Equal(got, want) {
		t.Errorf("opens: %v, want %v", got, want)
	}
	// Outside the cgroup nothing changes.
	if f, err := os.Open("/dev/zero"); err != nil {
		t.Errorf("/dev/zero outside the cgroup: %v", err)
	} else {
		f.Close()
	}

	// An update replaces the attached program rather than attaching
	// another, which could only narrow the filter further; the new one
	// is built from the rules in force and the update's, the last rule
	// that matches deciding.
	if err := m.Update(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		dev(true, 1, 5, "rwm"), // /dev/zero
	}}); err != nil {
		t.Fatal(err)
	}
	if n := attachedFilters(t, dir); n != 1 {
		t.Errorf("%d programs attached after update, want 1", n)
	}
	got = openInCgroup(t, dir, "/dev/null:r", "/dev/zero:rw")
	want = map[string]string{"/dev/null:r": "EPERM", "/dev/zero:rw": "ok"}
	if !maps.Equal(got, want) {
		t.Errorf("opens after update: %v, want %v", got, want)
	}
	// An update adds its rules to those in force, as writes to v1's
	// devices.allow do: /dev/zero stays allowed, /dev/null comes back
	// read-only, and what no rule allows stays refused.
	if err := m.Update(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{dev(true, 1, 3, "r")}}); err != nil {
		t.Fatal(err)
	}
	got = openInCgroup(t, dir, "/dev/null:r", "/dev/null:rw", "/dev/zero:rw", "/dev/full:r")
	want = map[string]string{"/dev/null:r": "ok", "/dev/null:rw": "EPERM", "/dev/zero:rw": "ok", "/dev/full:r": "EPERM"}
	if !maps.Equal(got, want) {
		t.Errorf("opens after a second update: %v, want %v", got, want)
	}
	// Bad rules in an update are refused and the filter stays.
	if err := m.Update(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "x", Access: "r"}}}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("update with a bad rule: %v, want ErrInvalidArgument", err)
	}
	if got := openInCgroup(t, dir, "/dev/zero:rw"); got["/dev/zero:rw"] != "ok" {
		t.Errorf("a refused update changed the filter: %v", got)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
}

// TestDeviceProgramLoads has the kernel's verifier accept the programs for
// a range of rule sets, and explain itself when it refuses one.
func TestDeviceProgramLoads(t *testing.T) {
	needRoot(t)
	sets := [][]specs.LinuxDeviceCgroup{
		nil,
		{{Allow: true, Access: "rwm"}},
		{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Access: "m"}, {Allow: true, Type: "b", Access: "m"}},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100 {
		sets = append(sets, randomRules(rng))
	}
	for _, devs := range sets {
		fd, err := loadDeviceProgram(deviceProgram(mustRules(t, devs)))
		if err != nil {
			t.Fatalf("rules %s: %v", fmtRules(devs), err)
		}
		unix.Close(fd)
	}
	// Exit without a verdict in R0.
	_, err := loadDeviceProgram([]bpfInsn{exit()})
	if err == nil || !strings.Contains(err.Error(), "R0") {
		t.Errorf("bad program: %v, want the verifier's complaint about R0", err)
	}
}
