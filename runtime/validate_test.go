package runtime

import (
	"errors"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestValidateSpecRefusesUnsupported(t *testing.T) {
	base := func() *specs.Spec {
		return &specs.Spec{Process: &specs.Process{Args: []string{"true"}}, Linux: &specs.Linux{}}
	}
	cases := map[string]func(*specs.Spec){
		"hook":     func(s *specs.Spec) { s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true"}}} },
		"seccomp":  func(s *specs.Spec) { s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno} },
		"apparmor": func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" },
		"selinux":  func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" },
		"mappings": func(s *specs.Spec) { s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}} },
		"sched":    func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther} },
	}
	for name, mutate := range cases {
		s := base()
		mutate(s)
		if err := validateSpec(s); !errors.Is(err, errdefs.ErrNotImplemented) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := validateSpec(base()); err != nil {
		t.Errorf("plain spec refused: %v", err)
	}
	empty := base()
	empty.Hooks = &specs.Hooks{}
	if err := validateSpec(empty); err != nil {
		t.Errorf("empty hooks refused: %v", err)
	}
}
