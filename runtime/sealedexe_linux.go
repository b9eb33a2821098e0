package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SealedBinary is a handle on the init binary through which nothing can
// write to it, for every container init and exec to be started from.
//
// Why (CVE-2019-5736): while the init enters a container, and again if
// the container makes it exec /proc/self/exe, a process in the container
// can open /proc/<pid>/exe of a process running the host's binary.
// PR_SET_DUMPABLE 0 (runtime/nsenter) stops only processes without
// CAP_SYS_PTRACE, and not at all the /proc/self/exe re-exec, which runs
// the binary as an ordinary container process. With the exe in hand, the
// container waits until the binary is idle (no more ETXTBSY) and reopens
// it for writing: the next container start runs its code as host root.
// Executed from this handle, /proc/<pid>/exe is a file on a lower-only,
// hence read-only, overlayfs that is mounted nowhere (or, failing that, a
// sealed memfd copy), so the reopen fails with EROFS (EPERM), even for a
// privileged container: neither can be made writable again.
type SealedBinary struct {
	f *os.File
}

// SealBinary makes path's SealedBinary.
func SealBinary(path string) (*SealedBinary, error) {
	f, oerr := sealedOverlay(path)
	if oerr != nil {
		var merr error
		f, merr = sealedMemfd(path)
		if merr != nil {
			return nil, fmt.Errorf("seal %s against overwrite (CVE-2019-5736): overlayfs: %v; memfd: %w", path, oerr, merr)
		}
	}
	return &SealedBinary{f: f}, nil
}

// Path is what to execute: the handle by the shim's own pid, which a child
// resolves before it enters any namespace. /proc/self/fd would name the
// child's table, where os/exec may have put another file on that number.
func (s *SealedBinary) Path() string {
	return "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.Itoa(int(s.f.Fd()))
}

// Close releases the handle.
func (s *SealedBinary) Close() error { return s.f.Close() }

// sealedOverlay opens path through an overlayfs of two lower layers, its
// own directory over an empty one, and no upper layer: such an overlay is
// read-only in its superblock, so no remount or mount_setattr can make it
// writable. The mount is never attached anywhere: no mount namespace sees
// it, and it goes with the last handle on it.
func sealedOverlay(path string) (*os.File, error) {
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	dir, name := filepath.Split(path)
	// Overlayfs wants two lower layers without an upper one; the second
	// needs a path and only has to be empty. Once mounted, the overlay
	// holds it, and the name can go.
	empty, err := os.MkdirTemp("", "raind-seal-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(empty)
	ctx, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(ctx)
	esc := func(p string) string {
		return strings.ReplaceAll(strings.ReplaceAll(p, `\`, `\\`), `:`, `\:`)
	}
	// The binary's directory on top, so that nothing in the other layer
	// can stand in for it.
	lower := esc(filepath.Clean(dir)) + ":" + esc(empty)
	if err := unix.FsconfigSetString(ctx, "lowerdir", lower); err != nil {
		return nil, fmt.Errorf("overlay lowerdir=%s: %w", lower, err)
	}
	// xino is of no use here and only logs when the layers' file systems
	// differ.
	_ = unix.FsconfigSetString(ctx, "xino", "off")
	if err := unix.FsconfigCreate(ctx); err != nil {
		return nil, fmt.Errorf("create overlay: %w", err)
	}
	mnt, err := unix.Fsmount(ctx, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return nil, fmt.Errorf("fsmount overlay: %w", err)
	}
	defer unix.Close(mnt)
	fd, err := unix.Openat(mnt, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s in the overlay: %w", name, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// sealedMemfd copies path into a memfd sealed against every change: the
// fallback where overlayfs or the new mount API is missing. It costs the
// binary's size in memory for as long as it is held.
func sealedMemfd(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// MFD_EXEC: executable even where vm.memfd_noexec defaults memfds to
	// noexec; kernels before 6.3 do not know the flag.
	fd, err := unix.MemfdCreate("raind-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate("raind-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), path)
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy into memfd: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	// execve refuses a file open for writing (ETXTBSY): keep a read-only
	// handle only.
	ro, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), os.O_RDONLY|unix.O_CLOEXEC, 0)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("reopen memfd read-only: %w", err)
	}
	return ro, nil
}
