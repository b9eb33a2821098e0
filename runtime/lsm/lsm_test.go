package lsm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

func fakeProc(t *testing.T, files ...string) procfs {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return procfs{threadSelf: dir}
}

func TestAppArmorWritesExecRequest(t *testing.T) {
	// Linux 5.8+: AppArmor's own attr directory wins.
	p := fakeProc(t, "attr/apparmor/exec", "attr/exec")
	if err := p.applyAppArmor("my-profile"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(p.threadSelf, "attr/apparmor/exec")); string(b) != "exec my-profile" {
		t.Errorf("attr/apparmor/exec = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(p.threadSelf, "attr/exec")); len(b) != 0 {
		t.Errorf("attr/exec written too: %q", b)
	}
	// Older kernels: the shared attr/exec.
	p = fakeProc(t, "attr/exec")
	if err := p.applyAppArmor("other"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(p.threadSelf, "attr/exec")); string(b) != "exec other" {
		t.Errorf("attr/exec = %q", b)
	}
	// No profile asks for nothing.
	p = fakeProc(t)
	if err := p.applyAppArmor(""); err != nil {
		t.Errorf("empty profile: %v", err)
	}
}

func TestAppArmorRefusesNonProcfs(t *testing.T) {
	p := fakeProc(t, "attr/exec")
	p.requireProcfs = true
	err := p.applyAppArmor("x")
	if !errors.Is(err, unix.EXDEV) || !strings.Contains(err.Error(), "process.apparmorProfile") {
		t.Errorf("write to a plain file as procfs: %v", err)
	}
}

// TestAppArmorOnThisHost: where the host has no AppArmor, the kernel
// refuses the request and the error carries its errno, as with runc.
func TestAppArmorOnThisHost(t *testing.T) {
	if AppArmorEnabled() {
		t.Skip("host runs AppArmor")
	}
	err := ApplyAppArmor("docker-default")
	if err == nil || !strings.Contains(err.Error(), "not enabled") {
		t.Fatalf("profile on a host without AppArmor: %v", err)
	}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		t.Errorf("no errno in %v", err)
	}
}

func TestCheckProcessLabel(t *testing.T) {
	if err := CheckProcessLabel("a:b:c:s0", false); !errors.Is(err, errdefs.ErrNotImplemented) || !strings.Contains(err.Error(), "process.selinuxLabel") {
		t.Errorf("label without SELinux: %v", err)
	}
	for _, c := range []struct {
		label   string
		enabled bool
	}{{"", false}, {"", true}, {"a:b:c:s0", true}} {
		if err := CheckProcessLabel(c.label, c.enabled); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestMountData(t *testing.T) {
	if got := MountData("mode=755", ""); got != "mode=755" {
		t.Errorf("no label: %q", got)
	}
	if got := MountData("mode=755", "system_u:object_r:container_file_t:s0"); got != `mode=755,context="system_u:object_r:container_file_t:s0"` {
		t.Errorf("label: %q", got)
	}
	if got := MountData("", "l"); got != `context="l"` {
		t.Errorf("label alone: %q", got)
	}
}
