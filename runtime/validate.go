package runtime

import (
	"fmt"

	"github.com/containerd/errdefs"
)

// validate refuses what raind does not implement yet. Each of these is a
// promise about the container (a security profile, a hook that sets up its
// network); running without it would be a silent downgrade.
func (v *specView) validate() error {
	if h := v.Hooks; h != nil && (len(h.Prestart) > 0 || len(h.CreateRuntime) > 0 || len(h.CreateContainer) > 0 ||
		len(h.StartContainer) > 0 || len(h.Poststart) > 0 || len(h.Poststop) > 0) {
		return fmt.Errorf("OCI hooks: %w", errdefs.ErrNotImplemented)
	}
	if l := v.Linux; l != nil {
		switch {
		case l.MountLabel != "":
			return fmt.Errorf("SELinux mount labels: %w", errdefs.ErrNotImplemented)
		case present(l.IntelRdt):
			return fmt.Errorf("intelRdt settings: %w", errdefs.ErrNotImplemented)
		case present(l.Personality):
			return fmt.Errorf("personality: %w", errdefs.ErrNotImplemented)
		case len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0:
			return fmt.Errorf("uid/gid mappings: %w", errdefs.ErrNotImplemented)
		case len(l.TimeOffsets) > 0:
			return fmt.Errorf("time offsets: %w", errdefs.ErrNotImplemented)
		}
	}
	return v.Process.validate()
}

// validate refuses process settings raind does not apply yet.
func (p *processView) validate() error {
	switch {
	case p.ApparmorProfile != "":
		return fmt.Errorf("AppArmor profile %q: %w", p.ApparmorProfile, errdefs.ErrNotImplemented)
	case p.SelinuxLabel != "":
		return fmt.Errorf("SELinux label: %w", errdefs.ErrNotImplemented)
	case present(p.Scheduler):
		return fmt.Errorf("scheduler settings: %w", errdefs.ErrNotImplemented)
	case present(p.IOPriority):
		return fmt.Errorf("I/O priority: %w", errdefs.ErrNotImplemented)
	case present(p.ExecCPUAffinity):
		return fmt.Errorf("exec CPU affinity: %w", errdefs.ErrNotImplemented)
	}
	return nil
}
