package runtime

import (
	"fmt"
	"path/filepath"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// validate refuses what raind does not implement yet. Each of these is a
// promise about the container (a namespace, a cache allocation); running
// without it would be a silent downgrade. Every refusal
// names the spec field; TestEveryFieldImplementedOrRefused keeps the list
// complete.
func (v *specView) validate() error {
	if err := v.Hooks.validate(); err != nil {
		return err
	}
	if l := v.Linux; l != nil {
		if present(l.IntelRdt) {
			return fmt.Errorf("linux.intelRdt: %w", errdefs.ErrNotImplemented)
		}
		// Mappings and offsets (userns.go): each goes with its namespace.
		if err := l.checkUserTime(); err != nil {
			return err
		}
		if err := v.checkUserProc(); err != nil {
			return err
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
