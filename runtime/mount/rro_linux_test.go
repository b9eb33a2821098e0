package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseRecursiveReadonly(t *testing.T) {
	o, err := parseOptions([]string{"rbind", "rro", "nosuid"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.recursiveRO || len(o.data) != 0 {
		t.Errorf("rro parsed as %+v, want recursiveRO and no data", o)
	}
}

// TestBindRecursiveReadonly: "rro" reaches a mount below the bind, which
// plain "ro" leaves writable.
func TestBindRecursiveReadonly(t *testing.T) {
	withScratch(t, 0, func(dir string) error {
		src, rootfs := filepath.Join(dir, "src"), filepath.Join(dir, "rootfs")
		if err := files(dir, map[string]string{"src/sub/": "", "rootfs/": ""}); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", filepath.Join(src, "sub"), "tmpfs", 0, ""); err != nil {
			return fmt.Errorf("submount: %w", err)
		}
		if err := All([]Mount{{Type: "bind", Source: src, Options: []string{"rbind", "rro"}}}, rootfs); err != nil {
			return err
		}
		for _, p := range []string{"top", "sub/below"} {
			if err := os.WriteFile(filepath.Join(rootfs, p), []byte("x"), 0o644); !errors.Is(err, unix.EROFS) {
				return fmt.Errorf("writing %s under the rro bind: %v, want EROFS", p, err)
			}
		}
		// The source and its submount stay writable.
		if err := os.WriteFile(filepath.Join(src, "sub", "below"), []byte("x"), 0o644); err != nil {
			return err
		}
		return UnmountRecursive(rootfs)
	})
}
