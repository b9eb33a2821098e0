package rootfs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpenDevNull checks the CVE-2025-31133 guard: only the null device
// itself may be the source that masks paths, not a symlink to something
// else nor another device.
func TestOpenDevNull(t *testing.T) {
	src, release, err := openDevNull("/dev/null")
	if err != nil {
		t.Fatalf("the real /dev/null: %v", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("source %s is not the null device: %v", src, err)
	}
	release()

	dir := t.TempDir()
	file := filepath.Join(dir, "core_pattern")
	if err := os.WriteFile(file, []byte("core"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "null")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	bad := []string{link, file}
	if os.Geteuid() == 0 {
		zero := filepath.Join(dir, "zero")
		if err := unix.Mknod(zero, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5))); err != nil {
			t.Fatal(err)
		}
		bad = append(bad, zero)
	}
	for _, p := range bad {
		if _, _, err := openDevNull(p); err == nil {
			t.Errorf("%s accepted as /dev/null", p)
		}
	}
}
