package runtime

import (
	"fmt"

	"github.com/containerd/errdefs"
)

// validate refuses what raind does not implement yet. Each of these is a
// promise about the container (a security profile, a hook that sets up its
// network); running without it would be a silent downgrade. Every refusal
// names the spec field; TestEveryFieldImplementedOrRefused keeps the list
// complete.
func (v *specView) validate() error {
	if h := v.Hooks; h != nil && (len(h.Prestart) > 0 || len(h.CreateRuntime) > 0 || len(h.CreateContainer) > 0 ||
		len(h.StartContainer) > 0 || len(h.Poststart) > 0 || len(h.Poststop) > 0) {
		return fmt.Errorf("OCI hooks: %w", errdefs.ErrNotImplemented)
	}
	if l := v.Linux; l != nil {
		switch {
		case present(l.Seccomp):
			return fmt.Errorf("seccomp profiles: %w", errdefs.ErrNotImplemented)
		case present(l.IntelRdt):
			return fmt.Errorf("linux.intelRdt: %w", errdefs.ErrNotImplemented)
		case len(l.UIDMappings) > 0:
			return fmt.Errorf("linux.uidMappings (user namespaces): %w", errdefs.ErrNotImplemented)
		case len(l.GIDMappings) > 0:
			return fmt.Errorf("linux.gidMappings (user namespaces): %w", errdefs.ErrNotImplemented)
		case len(l.TimeOffsets) > 0:
			return fmt.Errorf("linux.timeOffsets (time namespaces): %w", errdefs.ErrNotImplemented)
		}
	}
	if err := v.checkFields(); err != nil {
		return err
	}
	return v.Process.validate()
}

// validate checks the process settings raind applies itself.
func (p *processView) validate() error {
	return p.checkFields()
}
