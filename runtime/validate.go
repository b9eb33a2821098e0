package runtime

import (
	"fmt"
	"path/filepath"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// validate refuses what raind does not implement yet. Each of these is a
// promise about the container (a security profile, a label); running
// without it would be a silent downgrade.
func (v *specView) validate() error {
	if err := v.Hooks.validate(); err != nil {
		return err
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

// SupportedHooks lists the kinds of OCI hooks raind runs, for the
// runtime's features document.
func SupportedHooks() []string {
	return []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}
}

// validate checks what the runtime-spec asks of every hook: an absolute
// path and, if set, a positive timeout.
func (h *hooksView) validate() error {
	if h == nil {
		return nil
	}
	for _, kind := range []struct {
		name string
		hs   []specs.Hook
	}{
		{"prestart", h.Prestart}, {"createRuntime", h.CreateRuntime}, {"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer}, {"poststart", h.Poststart}, {"poststop", h.Poststop},
	} {
		for i, hk := range kind.hs {
			if !filepath.IsAbs(hk.Path) {
				return fmt.Errorf("%s hook #%d: path %q is not absolute: %w", kind.name, i, hk.Path, errdefs.ErrInvalidArgument)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return fmt.Errorf("%s hook #%d: timeout %d is not positive: %w", kind.name, i, *hk.Timeout, errdefs.ErrInvalidArgument)
			}
		}
	}
	return nil
}
