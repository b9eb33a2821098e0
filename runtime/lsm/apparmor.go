package lsm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// procfs is where the thread's attr files are found: /proc/thread-self in
// the container, a directory of plain files in tests. requireProcfs makes
// ApplyAppArmor check that what it writes to is procfs: a rootfs whose
// /proc is an ordinary directory would otherwise take the write and run
// the process unconfined.
type procfs struct {
	threadSelf    string
	requireProcfs bool
}

// AppArmorEnabled reports whether the host runs AppArmor, the way runc and
// libapparmor decide it.
func AppArmorEnabled() bool {
	if _, err := os.Stat("/sys/kernel/security/apparmor"); err != nil {
		return false
	}
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && len(b) > 1 && b[0] == 'Y'
}

// ApplyAppArmor asks for profile to be applied at the calling thread's next
// execve. An empty profile asks for nothing.
func ApplyAppArmor(profile string) error {
	return procfs{threadSelf: "/proc/thread-self", requireProcfs: true}.applyAppArmor(profile)
}

func (p procfs) applyAppArmor(profile string) error {
	if profile == "" {
		return nil
	}
	// attr/apparmor/exec is AppArmor's own since Linux 5.8; the shared
	// attr/exec is what older kernels have.
	path := filepath.Join(p.threadSelf, "attr", "apparmor", "exec")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		path = filepath.Join(p.threadSelf, "attr", "exec")
	}
	if err := p.write(path, "exec "+profile); err != nil {
		hint := ""
		if !AppArmorEnabled() {
			hint = " (AppArmor is not enabled on this host)"
		}
		return fmt.Errorf("process.apparmorProfile %q: apply profile%s: %w", profile, hint, err)
	}
	return nil
}

func (p procfs) write(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if p.requireProcfs {
		var st unix.Statfs_t
		if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
			return fmt.Errorf("statfs %s: %w", path, err)
		}
		if st.Type != unix.PROC_SUPER_MAGIC {
			return fmt.Errorf("%s is not on procfs: %w", path, unix.EXDEV)
		}
	}
	// One write: the kernel parses the whole command from it.
	if _, err := f.Write([]byte(value)); err != nil {
		return err
	}
	return nil
}
