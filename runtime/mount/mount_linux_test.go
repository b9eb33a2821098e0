package mount

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

func TestBindReadOnly(t *testing.T) {
	withScratch(t, 0, func(dir string) error {
		src, rootfs := filepath.Join(dir, "src"), filepath.Join(dir, "rootfs")
		if err := files(dir, map[string]string{"src/hello": "hi", "rootfs/": ""}); err != nil {
			return err
		}
		if err := All([]Mount{{Type: "bind", Source: src, Options: []string{"rbind", "ro"}}}, rootfs); err != nil {
			return err
		}
		if err := expectFile(filepath.Join(rootfs, "hello"), "hi"); err != nil {
			return err
		}
		for _, name := range []string{"hello", "new"} {
			if err := os.WriteFile(filepath.Join(rootfs, name), []byte("x"), 0o644); !errors.Is(err, unix.EROFS) {
				return fmt.Errorf("writing %s through the read-only bind: %v, want EROFS", name, err)
			}
		}
		// Read-only is the bind's, not the source's.
		if err := os.WriteFile(filepath.Join(src, "new"), []byte("x"), 0o644); err != nil {
			return err
		}
		m, err := mountAt(rootfs)
		if err != nil {
			return err
		}
		if !hasOption(m.Options, "ro") {
			return fmt.Errorf("bind mount options %q lack ro", m.Options)
		}
		if err := UnmountRecursive(rootfs); err != nil {
			return err
		}
		return expectNoMounts(rootfs)
	})
}

// TestBindFlags: the first bind call ignores nosuid and the like, so they
// must come through the remount too; propagation takes calls of its own.
func TestBindFlags(t *testing.T) {
	withScratch(t, 0, func(dir string) error {
		src, rootfs := filepath.Join(dir, "src"), filepath.Join(dir, "rootfs")
		if err := files(dir, map[string]string{"src/": "", "rootfs/": ""}); err != nil {
			return err
		}
		// "none" with a bind option: the option, not the type, makes a bind.
		if err := All([]Mount{{Type: "none", Source: src, Options: []string{"rbind", "rw", "nosuid", "nodev", "noexec", "rshared"}}}, rootfs); err != nil {
			return err
		}
		m, err := mountAt(rootfs)
		if err != nil {
			return err
		}
		for _, o := range []string{"rw", "nosuid", "nodev", "noexec"} {
			if !hasOption(m.Options, o) {
				return fmt.Errorf("bind mount options %q lack %s", m.Options, o)
			}
		}
		if !strings.Contains(m.Optional, "shared:") {
			return fmt.Errorf("bind mount is not shared: %q", m.Optional)
		}
		return UnmountRecursive(rootfs)
	})
}

func TestMountErrors(t *testing.T) {
	withScratch(t, 0, func(dir string) error {
		if err := files(dir, map[string]string{"rootfs/": "", "l1/": "", "upper/": "", "work/": ""}); err != nil {
			return err
		}
		rootfs := filepath.Join(dir, "rootfs")
		missing := filepath.Join(dir, "missing")
		for _, tc := range []struct {
			m     Mount
			kind  error
			errno unix.Errno
			names []string
		}{
			{Mount{Type: "bind", Source: missing, Options: []string{"rbind", "ro"}}, errdefs.ErrNotFound, unix.ENOENT, []string{"type=bind", `source="` + missing + `"`, rootfs, "ENOENT"}},
			{Mount{Type: "overlay", Source: "overlay", Options: []string{"workdir=" + dir + "/work", "upperdir=" + dir + "/upper", "lowerdir=" + dir + "/l1:" + missing}}, errdefs.ErrNotFound, unix.ENOENT, []string{"type=overlay", `source="overlay"`, rootfs, "ENOENT"}},
			{Mount{Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "no-such-tmpfs-option=1"}}, errdefs.ErrInvalidArgument, unix.EINVAL, []string{"type=tmpfs", rootfs, "EINVAL"}},
			{Mount{Type: "tmpfs", Source: "tmpfs", Target: "missing/dir"}, errdefs.ErrNotFound, unix.ENOENT, []string{rootfs + "/missing/dir", "ENOENT"}},
		} {
			err := All([]Mount{tc.m}, rootfs)
			if !errors.Is(err, tc.kind) || !errors.Is(err, tc.errno) {
				return fmt.Errorf("%v: error %v, want %v and %v", tc.m, err, tc.kind, tc.errno)
			}
			for _, name := range tc.names {
				if !strings.Contains(err.Error(), name) {
					return fmt.Errorf("error %q does not name %s", err, name)
				}
			}
			if err := expectNoMounts(rootfs); err != nil {
				return fmt.Errorf("after %v: %w", tc.m, err)
			}
		}
		return nil
	})
}

// TestAllUndoes: when a later mount fails, the earlier ones come off again,
// an rbind with submounts included.
func TestAllUndoes(t *testing.T) {
	withScratch(t, 0, func(dir string) error {
		if err := files(dir, map[string]string{"rootfs/": "", "src/sub/": ""}); err != nil {
			return err
		}
		rootfs, src := filepath.Join(dir, "rootfs"), filepath.Join(dir, "src")
		if err := unix.Mount("tmpfs", filepath.Join(src, "sub"), "tmpfs", 0, ""); err != nil {
			return err
		}
		tmpfs := Mount{Type: "tmpfs", Source: "tmpfs"}
		for i, ms := range [][]Mount{
			{tmpfs, {Type: "bind", Source: filepath.Join(dir, "missing"), Options: []string{"rbind"}}},
			{tmpfs, {Type: "tmpfs", Source: "tmpfs", Options: []string{"bogus=1"}}},
			{tmpfs, {Type: "tmpfs", Source: "tmpfs", Target: "not-in-the-new-tmpfs"}},
			{{Type: "bind", Source: src, Options: []string{"rbind", "ro"}}, {Type: "tmpfs", Source: "tmpfs", Target: "sub/missing"}},
			{{Type: "bind", Source: src, Options: []string{"rbind"}}, tmpfs, {Type: "tmpfs", Source: "tmpfs", Options: []string{"size=bogus"}}},
		} {
			if err := All(ms, rootfs); err == nil {
				return fmt.Errorf("case %d: All succeeded", i)
			}
			if err := expectNoMounts(rootfs); err != nil {
				return fmt.Errorf("case %d: %w", i, err)
			}
		}
		// The source's own submount is not the rootfs's to undo.
		_, err := mountAt(filepath.Join(src, "sub"))
		return err
	})
}

// TestTargetStaysInRoot: a mount's Target resolves symlinks as if the rootfs
// were /, so an image cannot point a mount at the host.
func TestTargetStaysInRoot(t *testing.T) {
	withScratch(t, 0, func(dir string) error {
		outside := filepath.Join(dir, "outside")
		if err := files(dir, map[string]string{"rootfs/": "", "src/sub/": "", "outside/": ""}); err != nil {
			return err
		}
		src, rootfs := filepath.Join(dir, "src"), filepath.Join(dir, "rootfs")
		if err := os.Symlink(outside, filepath.Join(src, "escape")); err != nil {
			return err
		}
		if err := os.Symlink("/sub", filepath.Join(src, "inside")); err != nil {
			return err
		}
		bind := Mount{Type: "bind", Source: src, Options: []string{"rbind"}}
		if err := All([]Mount{bind, {Type: "tmpfs", Source: "tmpfs", Target: "escape"}}, rootfs); !errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("mount through an escaping link: %v, want not found", err)
		}
		if err := expectNoMounts(outside); err != nil {
			return err
		}
		if err := All([]Mount{bind, {Type: "tmpfs", Source: "tmpfs", Target: "/../inside"}}, rootfs); err != nil {
			return err
		}
		if m, err := mountAt(filepath.Join(rootfs, "sub")); err != nil || m.FSType != "tmpfs" {
			return fmt.Errorf("rootfs/sub: %v %v, want the tmpfs", m, err)
		}
		return UnmountRecursive(rootfs)
	})
}

type childArgs struct{ Src, Rootfs string }

// TestBindLockedFlags: in a user namespace the flags of mounts inherited from
// the host are locked, and a read-only bind's remount must keep them or be
// refused with EPERM. That is where a rootless containerd runs its shims.
func TestBindLockedFlags(t *testing.T) {
	withScratch(t, unix.MS_NOSUID|unix.MS_NODEV, func(dir string) error {
		if err := files(dir, map[string]string{"src/hello": "hi", "rootfs/": ""}); err != nil {
			return err
		}
		arg, err := json.Marshal(childArgs{Src: filepath.Join(dir, "src"), Rootfs: filepath.Join(dir, "rootfs")})
		if err != nil {
			return err
		}
		// Forked from this thread, the child starts from its namespace.
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+string(arg))
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
			Pdeathsig:   syscall.SIGKILL,
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("child: %v: %s", err, out)
		}
		return nil
	})
}

func lockedFlagsChild(arg string) int {
	var a childArgs
	if err := json.Unmarshal([]byte(arg), &a); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// The proof that the flags are locked: asked for outright, the
	// remount is refused.
	if err := unix.Mount(a.Src, a.Rootfs, "", unix.MS_BIND, ""); err != nil {
		fmt.Fprintln(os.Stderr, "plain bind:", err)
		return 2
	}
	if err := unix.Mount("", a.Rootfs, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); !errors.Is(err, unix.EPERM) {
		fmt.Fprintln(os.Stderr, "remount without the locked flags:", err, "want EPERM")
		return 2
	}
	if err := unix.Unmount(a.Rootfs, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := All([]Mount{{Type: "bind", Source: a.Src, Options: []string{"rbind", "ro"}}}, a.Rootfs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := os.WriteFile(filepath.Join(a.Rootfs, "hello"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		fmt.Fprintln(os.Stderr, "write:", err, "want EROFS")
		return 2
	}
	return 0
}
