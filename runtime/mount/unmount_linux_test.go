package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestUnmountRecursive(t *testing.T) {
	withScratch(t, 0, func(dir string) error {
		if err := files(dir, map[string]string{"rootfs/": "", "src/b/": "", "plain/": ""}); err != nil {
			return err
		}
		rootfs := filepath.Join(dir, "rootfs")
		// tmpfs, a bind below it, a tmpfs below that, and a second tmpfs
		// stacked on the first that hides them all.
		steps := []func() error{
			func() error { return unix.Mount("tmpfs", rootfs, "tmpfs", 0, "") },
			func() error { return os.Mkdir(filepath.Join(rootfs, "a"), 0o755) },
			func() error {
				return unix.Mount(filepath.Join(dir, "src"), filepath.Join(rootfs, "a"), "", unix.MS_BIND, "")
			},
			func() error { return unix.Mount("tmpfs", filepath.Join(rootfs, "a/b"), "tmpfs", 0, "") },
			func() error { return unix.Mount("tmpfs", rootfs, "tmpfs", 0, "") },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		if ms, err := mountsUnder(rootfs); err != nil || len(ms) != 4 {
			return fmt.Errorf("set up %d mounts (%v), want 4", len(ms), err)
		}
		// Through a symlink, as the mount table never names it.
		link := filepath.Join(dir, "link")
		if err := os.Symlink(rootfs, link); err != nil {
			return err
		}
		if err := UnmountRecursive(link); err != nil {
			return err
		}
		if err := expectNoMounts(rootfs); err != nil {
			return err
		}
		// The source of the bind keeps its contents.
		if _, err := os.Stat(filepath.Join(dir, "src/b")); err != nil {
			return err
		}

		for _, p := range []string{"", rootfs, filepath.Join(dir, "plain"), filepath.Join(dir, "missing"), filepath.Join(dir, "missing/deeper")} {
			if err := UnmountRecursive(p); err != nil {
				return fmt.Errorf("UnmountRecursive(%q) = %v, want nil", p, err)
			}
		}
		// A sibling whose name starts like the target is not below it.
		sibling := rootfs + "-sibling"
		if err := os.Mkdir(sibling, 0o755); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", sibling, "tmpfs", 0, ""); err != nil {
			return err
		}
		if err := UnmountRecursive(rootfs); err != nil {
			return err
		}
		_, err := mountAt(sibling)
		return err
	})
}
