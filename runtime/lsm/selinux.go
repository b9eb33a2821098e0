package lsm

import (
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/selinux/go-selinux"
	"github.com/opencontainers/selinux/go-selinux/label"
)

// SELinuxEnabled reports whether the host runs SELinux.
func SELinuxEnabled() bool { return selinux.GetEnabled() }

// CheckProcessLabel refuses a process label on a host without SELinux, as
// runc does (utils_linux.go validateProcessSpec): there is nothing to
// apply it with, and running the process unlabelled would be a silent
// downgrade.
func CheckProcessLabel(processLabel string, enabled bool) error {
	if processLabel != "" && !enabled {
		return fmt.Errorf("process.selinuxLabel %q: selinux label is specified in config, but selinux is disabled or not supported: %w",
			processLabel, errdefs.ErrNotImplemented)
	}
	return nil
}

// SetExecLabel makes processLabel the SELinux context of the calling
// thread's next execve (runc: selinux.SetExecLabel in
// standard_init_linux.go and setns_init_linux.go, right before exec).
func SetExecLabel(processLabel string) error {
	if processLabel == "" {
		return nil
	}
	if err := CheckProcessLabel(processLabel, SELinuxEnabled()); err != nil {
		return err
	}
	if err := selinux.SetExecLabel(processLabel); err != nil {
		return fmt.Errorf("process.selinuxLabel %q: set exec label: %w", processLabel, err)
	}
	return nil
}

// MountData adds mountLabel to a mount's data as the SELinux context= option,
// for the mounts runc labels (tmpfs mounts and the tmpfs over masked
// directories). Like runc's label.FormatMountLabel it does so whether or
// not the host runs SELinux.
func MountData(data, mountLabel string) string {
	return label.FormatMountLabel(data, mountLabel)
}

// SetFileLabel labels path with mountLabel where SELinux runs, as runc does
// for mqueue mounts; without SELinux it does nothing (label.SetFileLabel).
func SetFileLabel(path, mountLabel string) error {
	if err := label.SetFileLabel(path, mountLabel); err != nil {
		return fmt.Errorf("linux.mountLabel %q on %s: %w", mountLabel, path, err)
	}
	return nil
}
