package runtime

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// sealedTarget is a copy of /bin/true to seal, in a directory of its own.
func sealedTarget(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bin", "prog")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkSealed runs the sealed binary and checks that a reopen for writing
// through its handle, the CVE-2019-5736 move, fails while the file on
// disk stays as it was.
func checkSealed(t *testing.T, f *os.File, orig string) {
	t.Helper()
	defer f.Close()
	s := &SealedBinary{f: f}
	if out, err := exec.Command(s.Path()).CombinedOutput(); err != nil {
		t.Fatalf("run %s: %v %s", s.Path(), err, out)
	}
	// A sealed memfd opens for writing but refuses the write itself.
	w, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), os.O_WRONLY, 0)
	if err == nil {
		_, err = w.Write([]byte{0})
		w.Close()
		if err == nil {
			t.Fatal("wrote to the sealed binary")
		}
	}
	if !errors.Is(err, unix.EROFS) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
		t.Fatalf("open for writing: %v, want EROFS or EPERM", err)
	}
	if w, err := os.OpenFile(orig, os.O_WRONLY, 0); err != nil {
		t.Fatalf("the original should stay writable to its owner: %v", err)
	} else {
		w.Close()
	}
}

func TestSealedOverlay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("overlayfs needs root")
	}
	p := sealedTarget(t)
	f, err := sealedOverlay(p)
	if err != nil {
		t.Fatal(err)
	}
	checkSealed(t, f, p)
}

func TestSealedMemfd(t *testing.T) {
	p := sealedTarget(t)
	f, err := sealedMemfd(p)
	if err != nil {
		t.Fatal(err)
	}
	checkSealed(t, f, p)
}
