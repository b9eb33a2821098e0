package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// overlayMount is what containerd's overlay snapshotter hands a task: upper
// and work directories and the lower layers, topmost first, lowerdir last.
func overlayMount(dir string, lowers []string) Mount {
	// Overlay takes ':' and ',' in a layer's path escaped with '\'.
	escape := strings.NewReplacer(`\`, `\\`, ":", `\:`, ",", `\,`)
	escaped := make([]string, len(lowers))
	for i, l := range lowers {
		escaped[i] = escape.Replace(l)
	}
	return Mount{Type: "overlay", Source: "overlay", Options: []string{
		"index=off",
		"workdir=" + filepath.Join(dir, "work"),
		"upperdir=" + filepath.Join(dir, "upper"),
		"lowerdir=" + strings.Join(escaped, ":"),
	}}
}

func TestOverlay(t *testing.T) {
	withScratch(t, 0, func(dir string) error {
		if err := files(dir, map[string]string{
			"l1/a": "1", "l1/only1": "1",
			"l2:odd,name/a": "2", "l2:odd,name/only2": "2",
			"l3/d/only3": "3",
			"upper/":     "", "work/": "", "rootfs/": "",
		}); err != nil {
			return err
		}
		rootfs := filepath.Join(dir, "rootfs")
		lowers := []string{filepath.Join(dir, "l1"), filepath.Join(dir, "l2:odd,name"), filepath.Join(dir, "l3")}
		if err := All([]Mount{overlayMount(dir, lowers)}, rootfs); err != nil {
			return err
		}
		for name, want := range map[string]string{"a": "1", "only1": "1", "only2": "2", "d/only3": "3"} {
			if err := expectFile(filepath.Join(rootfs, name), want); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(rootfs, "new"), []byte("n"), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(rootfs, "d/only3"), []byte("changed"), 0o644); err != nil {
			return err
		}
		if err := expectFile(filepath.Join(dir, "upper/new"), "n"); err != nil {
			return err
		}
		if err := expectFile(filepath.Join(dir, "upper/d/only3"), "changed"); err != nil {
			return err
		}
		if err := expectFile(filepath.Join(dir, "l3/d/only3"), "3"); err != nil {
			return err
		}
		for _, l := range lowers {
			if _, err := os.Stat(filepath.Join(l, "new")); !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("write reached lower %s: %v", l, err)
			}
		}
		m, err := mountAt(rootfs)
		if err != nil {
			return err
		}
		if m.FSType != "overlay" {
			return fmt.Errorf("rootfs is %s", m.FSType)
		}
		if err := UnmountRecursive(rootfs); err != nil {
			return err
		}
		return expectNoMounts(rootfs)
	})
}

// manyLayers makes n lower directories under dir/base, named so that their
// paths hold at least pad bytes, with "first" in the topmost and "last" in
// the bottom one; layer deep, if not negative, gets a path longer than
// fsconfig takes for a value.
func manyLayers(dir, base string, n, pad, deep int) ([]string, error) {
	lowers := make([]string, n)
	for i := range lowers {
		name := fmt.Sprintf("%03d-%s", i, strings.Repeat("x", pad))
		if i == 1 {
			name += `:odd,\name`
		}
		if i == deep {
			name = filepath.Join(strings.Repeat("d", 200), strings.Repeat("e", 100), name)
		}
		lowers[i] = filepath.Join(dir, base, name)
		if err := os.MkdirAll(lowers[i], 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(lowers[0], "first"), []byte("first"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(lowers[n-1], "last"), []byte("last"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(lowers[1], "odd"), []byte("odd"), 0o644); err != nil {
		return nil, err
	}
	if deep >= 0 {
		if err := os.WriteFile(filepath.Join(lowers[deep], "deep"), []byte("deep"), 0o644); err != nil {
			return nil, err
		}
	}
	return lowers, nil
}

// TestOverlayLongOptions: 120 layers with long names make options far over a
// page, too long even relative to their common parent as containerd would
// shorten them; only "lowerdir+" gets them to the kernel.
func TestOverlayLongOptions(t *testing.T) {
	if !lowerdirAppend() {
		t.Skip("kernel before 6.8: no lowerdir+")
	}
	withScratch(t, 0, func(dir string) error {
		if err := files(dir, map[string]string{"upper/": "", "work/": "", "rootfs/": "", "plain/": ""}); err != nil {
			return err
		}
		lowers, err := manyLayers(dir, "layers", 120, 60, 60)
		if err != nil {
			return err
		}
		m := overlayMount(dir, lowers)
		data := strings.Join(m.Options, ",")
		if len(data) < os.Getpagesize() {
			return fmt.Errorf("options are %d bytes, not over a page", len(data))
		}
		layers, err := splitLowerdir(strings.TrimPrefix(m.Options[len(m.Options)-1], "lowerdir="))
		if err != nil {
			return err
		}
		if _, rel, err := relativeLayers(layers); err != nil || len(joinLayers(rel)) < os.Getpagesize() {
			return fmt.Errorf("layers relative to their parent fit a page (%v): the test would not need lowerdir+", err)
		}
		// The premise: mount(2) cuts the options at a page and fails, or
		// mounts without the bottom layers.
		plain := filepath.Join(dir, "plain")
		if err := unix.Mount("overlay", plain, "overlay", 0, data); err == nil {
			_, statErr := os.Stat(filepath.Join(plain, "last"))
			_ = unix.Unmount(plain, unix.MNT_DETACH)
			if statErr == nil {
				return errors.New("mount(2) took more than a page of options")
			}
		}

		rootfs := filepath.Join(dir, "rootfs")
		if err := All([]Mount{m}, rootfs); err != nil {
			return err
		}
		for _, name := range []string{"first", "last", "deep", "odd"} {
			if err := expectFile(filepath.Join(rootfs, name), name); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(rootfs, "new"), []byte("n"), 0o644); err != nil {
			return err
		}
		if err := expectFile(filepath.Join(dir, "upper/new"), "n"); err != nil {
			return err
		}
		if err := UnmountRecursive(rootfs); err != nil {
			return err
		}
		if err := expectNoMounts(rootfs); err != nil {
			return err
		}

		// A missing layer is reported as such, with the layer named.
		m.Options[len(m.Options)-1] += ":" + filepath.Join(dir, "missing")
		err = All([]Mount{m}, rootfs)
		if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), filepath.Join(dir, "missing")) {
			return fmt.Errorf("missing layer: %v", err)
		}
		if err := expectNoMounts(rootfs); err != nil {
			return err
		}

		// Data-only layers ("::") become "datadir+": there, but not merged.
		upper := overlayMount(dir, lowers[:119]).Options
		m.Options[len(m.Options)-1] = upper[len(upper)-1] + "::" + lowers[119]
		m.Options = append([]string{"metacopy=on", "redirect_dir=on"}, m.Options...)
		if err := All([]Mount{m}, rootfs); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(rootfs, "last")); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("data-only layer merged: %v", err)
		}
		if err := expectFile(filepath.Join(rootfs, "first"), "first"); err != nil {
			return err
		}
		return UnmountRecursive(rootfs)
	})
}

// TestOverlayRelative is the path for kernels without "lowerdir+", forced:
// containerd's layout, shortened to paths relative to the snapshots
// directory and mounted from a thread of its own, which must leave the
// process's and the caller's working directories alone.
func TestOverlayRelative(t *testing.T) {
	withScratch(t, 0, func(dir string) error {
		if err := files(dir, map[string]string{"upper/": "", "work/": "", "rootfs/": ""}); err != nil {
			return err
		}
		snapshots := filepath.Join(strings.Repeat("containerd-root-", 4), "io.containerd.snapshotter.v1.overlayfs", "snapshots")
		lowers := make([]string, 120)
		for i := range lowers {
			lowers[i] = filepath.Join(dir, snapshots, fmt.Sprint(120-i), "fs")
			if err := os.MkdirAll(lowers[i], 0o755); err != nil {
				return err
			}
		}
		if err := files(dir, map[string]string{
			filepath.Join(snapshots, "120/fs/first"): "first",
			filepath.Join(snapshots, "1/fs/last"):    "last",
		}); err != nil {
			return err
		}
		m := overlayMount(dir, lowers)
		if n := len(strings.Join(m.Options, ",")); n < os.Getpagesize() {
			return fmt.Errorf("options are %d bytes, not over a page", n)
		}
		processCwd, err := os.Readlink("/proc/self/cwd")
		if err != nil {
			return err
		}
		cwd, err := os.Getwd()
		if err != nil {
			return err
		}
		rootfs := filepath.Join(dir, "rootfs")
		o, err := parseOptions(m.Options)
		if err != nil {
			return err
		}
		if err := mountOverlayRelative(m, o.flags, rootfs, o.data); err != nil {
			return err
		}
		for _, name := range []string{"first", "last"} {
			if err := expectFile(filepath.Join(rootfs, name), name); err != nil {
				return err
			}
		}
		mi, err := mountAt(rootfs)
		if err != nil {
			return err
		}
		if !strings.Contains(mi.VFSOptions, "lowerdir=120/fs:119/fs:") {
			return fmt.Errorf("layers not relative: %s", mi.VFSOptions)
		}
		if now, _ := os.Readlink("/proc/self/cwd"); now != processCwd {
			return fmt.Errorf("process working directory moved from %s to %s", processCwd, now)
		}
		if now, _ := os.Getwd(); now != cwd {
			return fmt.Errorf("caller's working directory moved from %s to %s", cwd, now)
		}
		if err := UnmountRecursive(rootfs); err != nil {
			return err
		}

		// Long names stay too long even when relative: refused, not cut.
		long, err := manyLayers(dir, "long", 120, 60, -1)
		if err != nil {
			return err
		}
		m = overlayMount(dir, long)
		if err := mountOverlayRelative(m, 0, rootfs, m.Options); !errors.Is(err, errdefs.ErrInvalidArgument) {
			return fmt.Errorf("too long even relative: %v", err)
		}
		return expectNoMounts(rootfs)
	})
}
