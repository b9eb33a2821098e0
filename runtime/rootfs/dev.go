package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func devicePtr(m os.FileMode) *os.FileMode { return &m }

// defaultDevices are the devices every container gets on a fresh /dev.
func defaultDevices() []specs.LinuxDevice {
	dev := func(path string, major, minor int64) specs.LinuxDevice {
		return specs.LinuxDevice{Path: path, Type: "c", Major: major, Minor: minor, FileMode: devicePtr(0o666)}
	}
	return []specs.LinuxDevice{
		dev("/dev/null", 1, 3), dev("/dev/zero", 1, 5), dev("/dev/full", 1, 7),
		dev("/dev/random", 1, 8), dev("/dev/urandom", 1, 9), dev("/dev/tty", 5, 0),
	}
}

// setupDev creates the devices and /dev's links. In a user namespace the
// kernel refuses mknod of a device, so each is a bind mount of the host's
// node instead, as runc does.
func setupDev(sys Syscalls, spec *specs.Spec, rootfs string, devMounted, ptsMounted, userNS bool) error {
	var devices []specs.LinuxDevice
	if devMounted {
		devices = defaultDevices()
	}
	if spec.Linux != nil {
		devices = append(devices, spec.Linux.Devices...)
	}
	for _, d := range devices {
		if err := createDevice(sys, rootfs, d, userNS); err != nil {
			return err
		}
	}
	if !devMounted {
		return nil
	}
	links := [][2]string{
		{"/proc/self/fd", "/dev/fd"},
		{"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"},
		{"/proc/kcore", "/dev/core"},
	}
	if ptsMounted {
		links = append(links, [2]string{"pts/ptmx", "/dev/ptmx"})
	}
	for _, l := range links {
		dst, err := target(sys, rootfs, l[1])
		if err != nil {
			return err
		}
		if err := sys.Symlink(l[0], dst); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("symlink %s: %w", l[1], err)
		}
	}
	return nil
}

func createDevice(sys Syscalls, rootfs string, d specs.LinuxDevice, bindOnly bool) error {
	dst, err := target(sys, rootfs, d.Path)
	if err != nil {
		return err
	}
	if err := sys.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("device %s: %w", d.Path, err)
	}
	var mode uint32
	switch d.Type {
	case "c", "u":
		mode = unix.S_IFCHR
	case "b":
		mode = unix.S_IFBLK
	case "p":
		mode = unix.S_IFIFO
	default:
		return fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
	}
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	bound := bindOnly
	if !bindOnly {
		err = sys.Mknod(dst, mode|perm, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))))
		if err == nil {
			// mknod(2) applies the umask; the spec's mode is meant exactly.
			err = sys.Chmod(dst, os.FileMode(perm))
		}
		// Without CAP_MKNOD the host's node is bound instead.
		bound = errors.Is(err, unix.EPERM)
	}
	if bound {
		if err := sys.CreateFile(dst); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
		err = sys.Mount(d.Path, dst, "", unix.MS_BIND, "")
		if err == nil {
			// The node is the host's: its owner and mode are not ours to
			// change (a chown would change the host's /dev, and in a user
			// namespace the kernel refuses it), as runc leaves them.
			return nil
		}
	}
	if err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("device %s: %w", d.Path, err)
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := sys.Lchown(dst, uid, gid); err != nil {
		return fmt.Errorf("chown device %s: %w", d.Path, err)
	}
	return nil
}
