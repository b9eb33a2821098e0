package runtime

import (
	"errors"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestValidateSpecRefusesUnsupported(t *testing.T) {
	base := func() *specs.Spec {
		return &specs.Spec{Process: &specs.Process{Args: []string{"true"}}, Root: &specs.Root{Path: "rootfs"}, Linux: &specs.Linux{}}
	}
	cases := map[string]func(*specs.Spec){
		"mountlbl":  func(s *specs.Spec) { s.Linux.MountLabel = "system_u:object_r:container_file_t:s0" },
		"intelrdt":  func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{} },
		"persona":   func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32} },
		"apparmor":  func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" },
		"selinux":   func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" },
		"mappings":  func(s *specs.Spec) { s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}} },
		"gidmaps":   func(s *specs.Spec) { s.Linux.GIDMappings = []specs.LinuxIDMapping{{Size: 1}} },
		"timeoffs":  func(s *specs.Spec) { s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}} },
		"sched":     func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther} },
		"ioprio":    func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE} },
		"cpuaffin":  func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0"} },
		"exec-only": func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "1"} },
	}
	for name, mutate := range cases {
		s := base()
		mutate(s)
		if _, err := NewConfig(s); !errors.Is(err, errdefs.ErrNotImplemented) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := NewConfig(base()); err != nil {
		t.Errorf("plain spec refused: %v", err)
	}
	// Seccomp is implemented: the init compiles the profile.
	withSeccomp := base()
	withSeccomp.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	if _, err := NewConfig(withSeccomp); err != nil {
		t.Errorf("seccomp profile refused: %v", err)
	}
	empty := base()
	empty.Hooks = &specs.Hooks{}
	if _, err := NewConfig(empty); err != nil {
		t.Errorf("empty hooks refused: %v", err)
	}
}

// Hooks are run, not refused; a hook the runtime-spec forbids is refused
// as invalid before anything runs.
func TestValidateHooks(t *testing.T) {
	one, zero := 1, 0
	ok := &specs.Spec{Process: &specs.Process{Args: []string{"true"}}, Root: &specs.Root{Path: "rootfs"}, Linux: &specs.Linux{},
		Hooks: &specs.Hooks{
			//lint:ignore SA1019 deprecated, but specs still carry it and it is run
			Prestart:        []specs.Hook{{Path: "/bin/true"}},
			CreateRuntime:   []specs.Hook{{Path: "/bin/true", Timeout: &one}},
			CreateContainer: []specs.Hook{{Path: "/bin/true"}},
			StartContainer:  []specs.Hook{{Path: "/bin/true"}},
			Poststart:       []specs.Hook{{Path: "/bin/true"}},
			Poststop:        []specs.Hook{{Path: "/bin/true"}},
		}}
	c, err := NewConfig(ok)
	if err != nil {
		t.Fatalf("hooks refused: %v", err)
	}
	if h := c.view.Hooks; len(h.Prestart) != 1 || h.CreateRuntime[0].Timeout == nil || *h.CreateRuntime[0].Timeout != 1 || h.Poststop[0].Path != "/bin/true" {
		t.Fatalf("hooks view %+v", h)
	}
	for name, h := range map[string]*specs.Hooks{
		"relative": {Poststop: []specs.Hook{{Path: "true"}}},
		"empty":    {StartContainer: []specs.Hook{{}}},
		"timeout":  {CreateContainer: []specs.Hook{{Path: "/bin/true", Timeout: &zero}}},
	} {
		bad := *ok
		bad.Hooks = h
		if _, err := NewConfig(&bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestValidateProcessRefusesUnsupported(t *testing.T) {
	cases := map[string]func(*specs.Process){
		"apparmor": func(p *specs.Process) { p.ApparmorProfile = "docker-default" },
		"selinux":  func(p *specs.Process) { p.SelinuxLabel = "system_u:system_r:container_t:s0" },
		"sched":    func(p *specs.Process) { p.Scheduler = &specs.Scheduler{Policy: specs.SchedOther} },
		"ioprio":   func(p *specs.Process) { p.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE} },
	}
	for name, mutate := range cases {
		p := &specs.Process{Args: []string{"true"}}
		mutate(p)
		if _, err := NewProcessConfig(p); !errors.Is(err, errdefs.ErrNotImplemented) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := NewProcessConfig(&specs.Process{Args: []string{"true"}, Terminal: true}); err != nil {
		t.Errorf("plain process refused: %v", err)
	}
}
