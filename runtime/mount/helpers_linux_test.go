package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// tempPrefix names every directory the tests mount on, so that a mount
// leaked to the host shows in its mount table.
const tempPrefix = "raind-mount-test-"

const childEnv = "RAIND_MOUNT_TEST_CHILD"

func TestMain(m *testing.M) {
	if arg := os.Getenv(childEnv); arg != "" {
		os.Exit(lockedFlagsChild(arg))
	}
	code := m.Run()
	// /proc/self is the main thread, which no test takes out of the host's
	// mount namespace (onThrowawayThread never uses it).
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		var leaked []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, tempPrefix) {
				leaked = append(leaked, l)
			}
		}
		if len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "mounts left in the host's namespace:\n%s\n", strings.Join(leaked, "\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// inPrivateMountNS runs fn on a thread of its own in a new mount namespace in
// which every mount is private: nothing fn mounts propagates to the host, and
// all of it goes away with the thread.
func inPrivateMountNS(fn func() error) error {
	var err error
	onThrowawayThread(func() {
		if err = unix.Unshare(unix.CLONE_NEWNS); err != nil {
			err = fmt.Errorf("unshare mount namespace: %w", err)
			return
		}
		if err = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			err = fmt.Errorf("make / rprivate: %w", err)
			return
		}
		err = fn()
	})
	return err
}

// withScratch runs body in a private mount namespace with a fresh tmpfs on a
// scratch directory (overlay wants a real filesystem under its layers, and
// the test's own /tmp may be an overlay).
func withScratch(t *testing.T, tmpfsFlags uintptr, body func(dir string) error) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	dir, err := os.MkdirTemp("", tempPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	err = inPrivateMountNS(func() error {
		if err := unix.Mount("tmpfs", dir, "tmpfs", tmpfsFlags, ""); err != nil {
			return fmt.Errorf("scratch tmpfs: %w", err)
		}
		return body(dir)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// mountsUnder lists the mounts at and below p as this thread sees them.
func mountsUnder(p string) ([]*mountinfo.Info, error) {
	return mountinfo.GetMounts(mountinfo.PrefixFilter(p))
}

func expectNoMounts(p string) error {
	ms, err := mountsUnder(p)
	if err != nil {
		return err
	}
	if len(ms) > 0 {
		var s []string
		for _, m := range ms {
			s = append(s, m.Mountpoint+" "+m.FSType)
		}
		return fmt.Errorf("mounts left under %s: %s", p, strings.Join(s, ", "))
	}
	return nil
}

// mountAt returns the top mount on p.
func mountAt(p string) (*mountinfo.Info, error) {
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(p))
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("nothing mounted on %s", p)
	}
	return ms[len(ms)-1], nil
}

func hasOption(list, opt string) bool {
	return strings.Contains(","+list+",", ","+opt+",")
}

// files creates files (path -> content) and directories (trailing "/")
// under dir.
func files(dir string, fs map[string]string) error {
	for name, content := range fs {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func expectFile(p, want string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if string(b) != want {
		return fmt.Errorf("%s holds %q, want %q", p, b, want)
	}
	return nil
}
