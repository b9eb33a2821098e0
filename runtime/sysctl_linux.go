package runtime

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	"golang.org/x/sys/unix"
)

// applySysctl writes the spec's sysctls. Why not by path (CVE-2025-52881):
// the init writes them inside the container, after the spec's mounts, and
// a mount there (a volume or tmpfs on /proc/sys/net, a bind of another
// procfs file over a sysctl) would take the write: the sysctl silently
// never reaches the kernel, or the value lands in a file the spec never
// named. Each file is opened through pathrs-lite's procfs handle (a fresh
// procfs where the kernel allows it, else /proc checked for mounts over
// the path) and reopened for writing from that handle.
func applySysctl(sysctl map[string]string) error {
	if len(sysctl) == 0 {
		return nil
	}
	proc, err := procfs.OpenProcRoot()
	if err != nil {
		return fmt.Errorf("sysctls: open procfs: %w", err)
	}
	defer proc.Close()
	for k, v := range sysctl {
		if strings.Contains(k, "..") || strings.HasPrefix(k, "/") {
			return fmt.Errorf("sysctl %q: bad name: %w", k, errdefs.ErrInvalidArgument)
		}
		if err := writeSysctl(proc, "sys/"+strings.ReplaceAll(k, ".", "/"), v); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
		}
	}
	return nil
}

func writeSysctl(proc *procfs.Handle, rel, value string) error {
	h, err := proc.OpenRoot(rel)
	if err != nil {
		return err
	}
	defer h.Close()
	f, err := pathrs.Reopen(h, unix.O_WRONLY|unix.O_CLOEXEC)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
