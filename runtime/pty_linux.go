package runtime

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// Why this file (CVE-2025-52565): the container's console is made inside
// its /dev, which the image, a volume or a process racing through a
// shared directory may control. Paths there are only names: /dev/ptmx,
// /dev/pts/N or /dev/console may be symlinks or other files by the time
// they are used, and a bind of "/dev/pts/N" onto "/dev/console" by path
// could put, say, /proc/sysrq-trigger at /dev/console, writable (masked
// and read-only paths come later), or cover a file outside /dev. So the
// ptmx is checked to be a devpts ptmx, the slave is taken from the master
// itself (TIOCGPTPEER), and the bind goes from and to checked fds.

const (
	ptmxMajor, ptmxMinor = 5, 2 // TTYAUX_MAJOR, the ptmx device
	ptmxIno              = 2    // a devpts instance's ptmx inode
	ptySlaveMajorFirst   = 136  // UNIX98_PTY_SLAVE_MAJOR..+7
	ptySlaveMajorLast    = 143
)

// openPty allocates a pty from the container's devpts and returns its
// master and slave.
func openPty() (console.Console, *os.File, error) {
	const ptmx = "/dev/pts/ptmx"
	h, err := os.OpenFile(ptmx, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", ptmx, err)
	}
	defer h.Close()
	if err := checkDevpts(h, func(st *unix.Stat_t) bool {
		return st.Ino == ptmxIno && st.Rdev == unix.Mkdev(ptmxMajor, ptmxMinor)
	}); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ptmx, err)
	}
	f, err := os.OpenFile(fdPath(h), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("reopen %s: %w", ptmx, err)
	}
	master, slavePath, err := console.NewPtyFromFile(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("create pty: %w", err)
	}
	slave, err := ptyPeer(master, slavePath)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// ptyPeer opens master's slave without a path where the kernel can
// (TIOCGPTPEER, Linux 4.13); before that, by path, checked to be a pty
// slave on devpts.
func ptyPeer(master console.Console, slavePath string) (*os.File, error) {
	// TIOCGPTPEER takes the open flags as its argument.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno == 0 {
		return os.NewFile(r, slavePath), nil
	}
	if !errors.Is(errno, unix.ENOTTY) && !errors.Is(errno, unix.EINVAL) {
		return nil, fmt.Errorf("open pty slave: %w", errno)
	}
	h, err := os.OpenFile(slavePath, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open pty slave %s: %w", slavePath, err)
	}
	defer h.Close()
	if err := checkDevpts(h, func(st *unix.Stat_t) bool {
		m := unix.Major(st.Rdev)
		return m >= ptySlaveMajorFirst && m <= ptySlaveMajorLast
	}); err != nil {
		return nil, fmt.Errorf("pty slave %s: %w", slavePath, err)
	}
	return os.OpenFile(fdPath(h), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
}

// checkDevpts checks that h is a character device on a devpts that ok
// accepts.
func checkDevpts(h *os.File, ok func(*unix.Stat_t) bool) error {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(h.Fd()), &sfs); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return err
	}
	if sfs.Type != unix.DEVPTS_SUPER_MAGIC || st.Mode&unix.S_IFMT != unix.S_IFCHR || !ok(&st) {
		return fmt.Errorf("not the device expected on a devpts (fs %#x, mode %#o, device %d:%d, inode %d): %w",
			sfs.Type, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), st.Ino, unix.EXDEV)
	}
	return nil
}

// bindConsole makes /dev/console the pty slave, as a console-owning init
// expects. A missing /dev (no /dev mount) leaves it out. /dev/console is
// created or opened without following a symlink, and must be a file or a
// character device; the bind is between the two fds.
func bindConsole(slave *os.File) error {
	const dev = "/dev/console"
	if _, err := os.Stat("/dev"); err != nil {
		return nil
	}
	h, err := os.OpenFile(dev, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		var f *os.File
		f, err = os.OpenFile(dev, os.O_CREATE|os.O_EXCL|os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == nil {
			f.Close()
			h, err = os.OpenFile(dev, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", dev, err)
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return fmt.Errorf("stat %s: %w", dev, err)
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFCHR {
		return fmt.Errorf("%s is not a file or a device (mode %#o): refusing to bind the console there: %w", dev, st.Mode, unix.EXDEV)
	}
	if err := unix.Mount(fdPath(slave), fdPath(h), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s to %s: %w", slave.Name(), dev, err)
	}
	return nil
}

func fdPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }
