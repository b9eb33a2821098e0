package rootfs

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/raind/raind/runtime/lsm"
)

// mountLabel is linux.mountLabel, the SELinux context of the mounts raind
// makes for the container.
func mountLabel(spec *specs.Spec) string {
	if spec.Linux == nil {
		return ""
	}
	return spec.Linux.MountLabel
}

// labelData and labelFile label the mounts runc labels: tmpfs (spec mounts
// and masks) through the context= option, mqueue by relabelling its root.
// See package lsm for what happens on a host without SELinux.
func labelData(data, label string) string { return lsm.MountData(data, label) }

func labelFile(path, label string) error {
	if label == "" {
		return nil
	}
	return lsm.SetFileLabel(path, label)
}

// labelHint explains the EINVAL a kernel without SELinux gives a mount that
// carries context=: runc fails the same way there, but says less.
func labelHint(err error, label string) error {
	if err == nil || label == "" || !errors.Is(err, unix.EINVAL) || lsm.SELinuxEnabled() {
		return err
	}
	return fmt.Errorf("%w (linux.mountLabel %q: only a kernel running SELinux takes the context= mount option)", err, label)
}
