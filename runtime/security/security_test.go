package security

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const childEnv = "RAIND_SECURITY_CHILD"

// statusSeparator splits the child's output: before it is the status of
// the thread Finalize ran on, after it the status of the program it
// exec'd, which is what the kernel's execve rules leave.
const statusSeparator = "--- exec ---"

// TestMain lets the test binary act as a container process: it applies the
// settings passed in the environment on its locked main thread, prints
// that thread's status, then execs cat /proc/self/status from it.
func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(child(cfg))
	}
	os.Exit(m.Run())
}

func child(cfg string) int {
	runtime.LockOSThread()
	var c childConfig
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		os.Stderr.WriteString(err.Error())
		return 3
	}
	if c.NNP {
		if err := SetNoNewPrivileges(); err != nil {
			os.Stderr.WriteString(err.Error())
			return 4
		}
	}
	if err := Finalize(c.User, c.Caps); err != nil {
		os.Stderr.WriteString(err.Error())
		return 4
	}
	// thread-self: only this thread's credentials changed.
	st, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		os.Stderr.WriteString(err.Error())
		return 5
	}
	os.Stdout.Write(st)
	os.Stdout.WriteString(statusSeparator + "\n")
	err = syscall.Exec("/bin/cat", []string{"cat", "/proc/self/status"}, nil)
	os.Stderr.WriteString(err.Error())
	return 6
}

type childConfig struct {
	User specs.User
	Caps *specs.LinuxCapabilities
	NNP  bool
}

// runChild returns the status before and after execve.
func runChild(t *testing.T, c childConfig) (before, after map[string]string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{childEnv + "=" + string(b)}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("child: %v: %s", err, ee.Stderr)
		}
		t.Fatalf("child: %v", err)
	}
	pre, post, ok := strings.Cut(string(out), statusSeparator+"\n")
	if !ok {
		t.Fatalf("child output has no separator:\n%s", out)
	}
	return parseStatus(pre), parseStatus(post)
}

func parseStatus(s string) map[string]string {
	status := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			status[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return status
}

func expect(t *testing.T, when string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: %s = %q, want %q", when, k, g, v)
		}
	}
}

// CAP_CHOWN is bit 0, CAP_NET_BIND_SERVICE bit 10.
const chownBind = "0000000000000401"

// Finalize must leave a non-root thread holding the requested caps. The
// exec'd program then gets what capabilities(7) gives a non-root execve of
// a file without file capabilities: permitted and effective come only from
// the ambient set, which is empty here, while the bounding set stays.
func TestFinalizeNonRoot(t *testing.T) {
	caps := []string{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"}
	before, after := runChild(t, childConfig{
		User: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}},
		Caps: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
		NNP:  true,
	})
	ids := map[string]string{"Uid": "1000 1000 1000 1000", "Gid": "1000 1000 1000 1000", "Groups": "10 20", "NoNewPrivs": "1"}
	expect(t, "before exec", before, ids)
	expect(t, "before exec", before, map[string]string{
		"CapEff": chownBind, "CapPrm": chownBind, "CapBnd": chownBind,
		"CapInh": "0000000000000000", "CapAmb": "0000000000000000",
	})
	expect(t, "after exec", after, ids)
	expect(t, "after exec", after, map[string]string{
		"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapBnd": chownBind,
		"CapInh": "0000000000000000", "CapAmb": "0000000000000000",
	})
}

// With the caps also inheritable and ambient, they survive the execve.
func TestFinalizeNonRootAmbient(t *testing.T) {
	caps := []string{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"}
	_, after := runChild(t, childConfig{
		User: specs.User{UID: 1000, GID: 1000},
		Caps: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Inheritable: caps, Ambient: caps},
	})
	expect(t, "after exec", after, map[string]string{
		"Uid": "1000 1000 1000 1000", "Groups": "", "NoNewPrivs": "0",
		"CapEff": chownBind, "CapPrm": chownBind, "CapBnd": chownBind, "CapInh": chownBind, "CapAmb": chownBind,
	})
}

func TestFinalizeRootNoCaps(t *testing.T) {
	before, after := runChild(t, childConfig{User: specs.User{UID: 0, GID: 0}})
	zero := "0000000000000000"
	want := map[string]string{
		"Uid": "0 0 0 0", "Gid": "0 0 0 0", "Groups": "", "NoNewPrivs": "0",
		"CapEff": zero, "CapPrm": zero, "CapBnd": zero, "CapInh": zero, "CapAmb": zero,
	}
	expect(t, "before exec", before, want)
	expect(t, "after exec", after, want)
}

func TestParseCapabilities(t *testing.T) {
	got, err := parseCaps([]string{"CAP_SYS_ADMIN", "cap_kill", "CAP_CHECKPOINT_RESTORE"}, 39)
	if err != nil {
		t.Fatal(err)
	}
	// CAP_CHECKPOINT_RESTORE (40) is beyond a kernel whose last cap is 39.
	if len(got) != 2 || got[0] != 21 || got[1] != 5 {
		t.Fatalf("got %v", got)
	}
	got, err = parseCaps([]string{"CAP_CHECKPOINT_RESTORE"}, 40)
	if err != nil || len(got) != 1 || got[0] != 40 {
		t.Fatalf("CAP_CHECKPOINT_RESTORE on a kernel that has it: %v %v", got, err)
	}
	for _, bad := range []string{"CAP_NOPE", "", "SYS_ADMIN", "CAP_SYS_ADMIN "} {
		if _, err := ParseCapabilities([]string{"CAP_CHOWN", bad}); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "capability") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if got, err := ParseCapabilities(nil); err != nil || len(got) != 0 {
		t.Errorf("nil: %v %v", got, err)
	}
	// Parsing comes before any change, so this is safe in the test process.
	if err := Finalize(specs.User{}, &specs.LinuxCapabilities{Bounding: []string{"CAP_BOGUS"}}); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "bounding") {
		t.Fatalf("Finalize with a bad cap: %v", err)
	}
}

func TestRlimitNames(t *testing.T) {
	for _, bad := range []string{"RLIMIT_NOPE", "NOFILE", ""} {
		if _, err := rlimitResource(bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for name, want := range map[string]int{"RLIMIT_NOFILE": syscall.RLIMIT_NOFILE, "RLIMIT_CORE": syscall.RLIMIT_CORE, "RLIMIT_NPROC": 6, "RLIMIT_RTTIME": 15} {
		if r, err := rlimitResource(name); err != nil || r != want {
			t.Errorf("%s: %d %v, want %d", name, r, err, want)
		}
	}
	if err := ApplyRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_BOGUS", Soft: 1, Hard: 1}}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("ApplyRlimits with a bad name: %v", err)
	}
}

func TestApplyRlimits(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_CORE, &orig) })
	if err := ApplyRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: 0, Hard: orig.Max}}); err != nil {
		t.Fatal(err)
	}
	var now syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &now); err != nil {
		t.Fatal(err)
	}
	if now.Cur != 0 || now.Max != orig.Max {
		t.Fatalf("RLIMIT_CORE = %d/%d, want 0/%d", now.Cur, now.Max, orig.Max)
	}
	// Soft above hard is the kernel's EINVAL, reported with the limit.
	err := ApplyRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: 2, Hard: 1}})
	if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "RLIMIT_CORE") {
		t.Fatalf("soft > hard: %v", err)
	}
}
