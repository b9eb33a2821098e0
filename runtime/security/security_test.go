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

// TestMain lets the test binary act as a container process: it applies the
// settings passed in the environment, then execs cat /proc/self/status.
func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		runtime.LockOSThread()
		var c childConfig
		if err := json.Unmarshal([]byte(cfg), &c); err != nil {
			os.Exit(3)
		}
		if err := Finalize(c.User, c.Caps, c.NNP); err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(4)
		}
		err := syscall.Exec("/bin/cat", []string{"cat", "/proc/self/status"}, nil)
		os.Stderr.WriteString(err.Error())
		os.Exit(5)
	}
	os.Exit(m.Run())
}

type childConfig struct {
	User specs.User
	Caps *specs.LinuxCapabilities
	NNP  bool
}

func runChild(t *testing.T, c childConfig) map[string]string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	b, _ := json.Marshal(c)
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{childEnv + "=" + string(b)}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		errors.As(err, &ee)
		t.Fatalf("child: %v %s", err, ee.Stderr)
	}
	status := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			status[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return status
}

func TestFinalizeNonRootKeepsCaps(t *testing.T) {
	caps := []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"}
	st := runChild(t, childConfig{
		User: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}},
		Caps: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Inheritable: caps, Ambient: caps},
		NNP:  true,
	})
	// CAP_CHOWN is bit 0, CAP_NET_BIND_SERVICE bit 10: 0x401.
	want := map[string]string{
		"Uid": "1000 1000 1000 1000", "Gid": "1000 1000 1000 1000", "Groups": "10 20",
		"CapInh": "0000000000000401", "CapPrm": "0000000000000401", "CapEff": "0000000000000401",
		"CapBnd": "0000000000000401", "CapAmb": "0000000000000401", "NoNewPrivs": "1",
	}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("%s = %q, want %q", k, st[k], v)
		}
	}
}

func TestFinalizeRootNoCaps(t *testing.T) {
	st := runChild(t, childConfig{User: specs.User{UID: 0, GID: 0}})
	for k, v := range map[string]string{"Uid": "0 0 0 0", "CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapBnd": "0000000000000000", "NoNewPrivs": "0", "Groups": ""} {
		if st[k] != v {
			t.Errorf("%s = %q, want %q", k, st[k], v)
		}
	}
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
	if _, err := ParseCapabilities([]string{"CAP_NOPE"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("unknown cap: %v", err)
	}
	if err := Finalize(specs.User{}, &specs.LinuxCapabilities{Bounding: []string{"CAP_BOGUS"}}, false); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("Finalize with a bad cap: %v", err)
	}
}

func TestRlimits(t *testing.T) {
	if _, err := rlimitResource("RLIMIT_NOPE"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("unknown rlimit: %v", err)
	}
	if r, err := rlimitResource("RLIMIT_NOFILE"); err != nil || r != syscall.RLIMIT_NOFILE {
		t.Fatalf("nofile: %d %v", r, err)
	}
	var cur syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &cur); err != nil {
		t.Fatal(err)
	}
	if err := ApplyRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: 0, Hard: cur.Max}}); err != nil {
		t.Fatal(err)
	}
	var now syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_CORE, &now)
	if now.Cur != 0 {
		t.Fatalf("RLIMIT_CORE soft %d", now.Cur)
	}
	syscall.Setrlimit(syscall.RLIMIT_CORE, &cur)
}
