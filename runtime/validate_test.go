package runtime

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestValidateSpecRefusesUnsupported(t *testing.T) {
	base := func() *specs.Spec {
		return &specs.Spec{Process: &specs.Process{Args: []string{"true"}}, Root: &specs.Root{Path: "rootfs"}, Linux: &specs.Linux{}}
	}
	cases := map[string]func(*specs.Spec){
		"intelrdt": func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{} },
		// No SELinux on the test host: refused as runc refuses it.
		"selinux": func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" },
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
	// Mappings and offsets without their namespaces are the spec's
	// fault; with them they are accepted.
	for name, mutate := range map[string]func(*specs.Spec){
		"mappings": func(s *specs.Spec) { s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}} },
		"gidmaps":  func(s *specs.Spec) { s.Linux.GIDMappings = []specs.LinuxIDMapping{{Size: 1}} },
		"timeoffs": func(s *specs.Spec) { s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}} },
	} {
		s := base()
		mutate(s)
		if _, err := NewConfig(s); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	withNS := base()
	withNS.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.UserNamespace}, {Type: specs.TimeNamespace}}
	withNS.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	withNS.Linux.GIDMappings = withNS.Linux.UIDMappings
	withNS.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
	if _, err := NewConfig(withNS); err != nil {
		t.Errorf("user and time namespaces refused: %v", err)
	}
	empty := base()
	empty.Hooks = &specs.Hooks{}
	if _, err := NewConfig(empty); err != nil {
		t.Errorf("empty hooks refused: %v", err)
	}
}

// TestValidateFieldValues: each field raind applies is accepted with a
// good value and refused, by name, with a bad one, for an init and (for
// process fields) an exec.
func TestValidateFieldValues(t *testing.T) {
	netns := []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}}
	good := map[string]func(*specs.Spec){
		"sched idle":  func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedIdle} },
		"sched fifo":  func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedFIFO, Priority: 10} },
		"sched nice":  func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Nice: 19} },
		"ioprio":      func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE} },
		"affinity":    func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0", Final: "0-1,3"} },
		"personality": func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32} },
		"persona flags": func(s *specs.Spec) {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux, Flags: []specs.LinuxPersonalityFlag{"ADDR_NO_RANDOMIZE"}}
		},
		"mempolicy":      func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0"} },
		"mempolicy dflt": func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolDefault} },
		"apparmor":       func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" },
		"mountlabel":     func(s *specs.Spec) { s.Linux.MountLabel = "system_u:object_r:container_file_t:s0" },
		"netdev": func(s *specs.Spec) {
			s.Linux.Namespaces = netns
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}, "dummy0": {Name: "net%d"}}
		},
	}
	bad := map[string]struct {
		field string
		set   func(*specs.Spec)
	}{
		"policy":     {"process.scheduler", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_FAST"} }},
		"no policy":  {"process.scheduler", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{} }},
		"nice":       {"process.scheduler", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Nice: 20} }},
		"prio other": {"process.scheduler", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Priority: 1} }},
		"deadline":   {"process.scheduler", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedRR, Runtime: 1} }},
		"sched flag": {"process.scheduler", func(s *specs.Spec) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedRR, Flags: []specs.LinuxSchedulerFlag{"SCHED_FLAG_X"}}
		}},
		"io class": {"process.ioPriority", func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{Class: "IOPRIO_CLASS_NONE"} }},
		"io prio": {"process.ioPriority", func(s *specs.Spec) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 8}
		}},
		"aff syntax":   {"process.execCPUAffinity.initial", func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0-"} }},
		"aff backward": {"process.execCPUAffinity.final", func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "3-1"} }},
		"aff huge":     {"process.execCPUAffinity.final", func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "99999"} }},
		"domain":       {"linux.personality", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: "BSD"} }},
		"persona flag": {"linux.personality", func(s *specs.Spec) {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux, Flags: []specs.LinuxPersonalityFlag{"FAST"}}
		}},
		"mpol mode":  {"linux.memoryPolicy", func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: "MPOL_ANY"} }},
		"mpol nodes": {"linux.memoryPolicy", func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind} }},
		"mpol local": {"linux.memoryPolicy", func(s *specs.Spec) {
			s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolLocal, Nodes: "0"}
		}},
		"mpol flag": {"linux.memoryPolicy", func(s *specs.Spec) {
			s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{"MPOL_F_X"}}
		}},
		"mpol list":   {"linux.memoryPolicy.nodes", func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "a"} }},
		"netdev nons": {"linux.netDevices", func(s *specs.Spec) { s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}} }},
		"netdev name": {"linux.netDevices", func(s *specs.Spec) {
			s.Linux.Namespaces = netns
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {Name: "a/b"}}
		}},
		"netdev long": {"linux.netDevices", func(s *specs.Spec) {
			s.Linux.Namespaces = netns
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"averyveryverylongname": {}}
		}},
		"netdev dup": {"linux.netDevices", func(s *specs.Spec) {
			s.Linux.Namespaces = netns
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {Name: "x"}, "eth2": {Name: "x"}}
		}},
	}
	for name, set := range good {
		s := allowlistBase()
		set(s)
		if _, err := NewConfig(s); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := NewProcessConfig(s.Process); err != nil {
			t.Errorf("exec %s: %v", name, err)
		}
	}
	for name, c := range bad {
		s := allowlistBase()
		c.set(s)
		_, err := NewConfig(s)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v, want InvalidArgument naming %s", name, err, c.field)
		}
		if strings.HasPrefix(c.field, "process.") {
			if _, err := NewProcessConfig(s.Process); !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("exec %s: %v, want InvalidArgument", name, err)
			}
		}
	}
}

// TestParseConfigNeverPanics: wrong JSON types in the fields the creating
// side decodes are InvalidArgument.
func TestParseConfigNeverPanics(t *testing.T) {
	base := `{"process":{"args":["true"]%s},"root":{"path":"r"},"linux":{"namespaces":[{"type":"mount"}]%s}}`
	for _, c := range []struct{ proc, linux string }{
		{`,"scheduler":7`, ``},
		{`,"scheduler":{"policy":1}`, ``},
		{`,"ioPriority":"x"`, ``},
		{`,"execCPUAffinity":[1]`, ``},
		{`,"execCPUAffinity":{"initial":",,,"}`, ``},
		{``, `,"personality":{"domain":3}`},
		{``, `,"memoryPolicy":{"mode":"MPOL_BIND","nodes":"1-0"}`},
		{``, `,"netDevices":{"":{}}`},
		{``, `,"netDevices":[1]`},
	} {
		doc := []byte(strings.Replace(strings.Replace(base, "%s", c.proc, 1), "%s", c.linux, 1))
		if _, err := ParseConfig(doc); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v, want InvalidArgument", doc, err)
		}
	}
}

// FuzzParseConfig: no document makes ParseConfig or ParseProcess panic,
// and every refusal is an errdefs kind, which containerd shows the client.
func FuzzParseConfig(f *testing.F) {
	for _, doc := range []string{
		`{"process":{"args":["true"],"scheduler":{"policy":"SCHED_RR","priority":1},"execCPUAffinity":{"initial":"0-1,3"}},"root":{"path":"r"},"linux":{"namespaces":[{"type":"mount"},{"type":"network"}],"netDevices":{"eth1":{"name":"e%d"}},"memoryPolicy":{"mode":"MPOL_BIND","nodes":"0"},"personality":{"domain":"LINUX32"}},"mounts":[{"destination":"/d","uidMappings":[]}]}`,
		`{"process":{"args":["sh"],"ioPriority":{"class":"IOPRIO_CLASS_RT","priority":9},"selinuxLabel":"x"},"root":{"path":"r"},"linux":{}}`,
		`{"process":{"args":["sh"],"user":{"username":"u"},"commandLine":"c"},"root":{"path":"r"},"linux":{},"windows":{}}`,
		`{"process":{"args":["sh"]},"root":{"path":"r"},"linux":{"uidMappings":[{}],"timeOffsets":{"boottime":{}},"intelRdt":{}},"hooks":{"prestart":[{"path":"x","timeout":0}]}}`,
		`{"process":{"args":["sh"],"execCPUAffinity":{"initial":"4294967295","final":"-"}},"root":{"path":"r"},"linux":{"personality":{"domain":"LINUX","flags":["x"]},"memoryPolicy":{"mode":"MPOL_X"}}}`,
		`{"process":{"args":[]},"root":null}`, `[]`, `null`, `{"process":{"args":["a"]},"root":{},"linux":{"netDevices":{"":{}}}}`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if _, err := ParseConfig(doc); err != nil {
			checkKind(t, "ParseConfig", err)
		}
		if _, err := ParseProcess(doc); err != nil {
			checkKind(t, "ParseProcess", err)
		}
	})
}

// FuzzDecodeInitConfig: the init's own decoding of the spec the runtime
// sends it never panics, and refuses with an errdefs kind.
func FuzzDecodeInitConfig(f *testing.F) {
	f.Add(false, []byte(`{"process":{"args":["true"],"rlimits":[{"type":"RLIMIT_NOFILE","hard":1}]},"root":{"path":"r"},"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}}}`))
	f.Add(true, []byte(`{"args":["sh"],"env":["A=b"],"capabilities":{"bounding":["CAP_CHOWN"]}}`))
	f.Add(true, []byte(`{"args":[]}`))
	f.Add(false, []byte(`{"process":null}`))
	f.Fuzz(func(t *testing.T, exec bool, doc []byte) {
		cfg := &initConfig{Exec: exec, Spec: doc, Process: doc}
		spec, proc, err := decodeConfig(cfg)
		if err != nil {
			checkKind(t, "decodeConfig", err)
			return
		}
		if proc == nil || len(proc.Args) == 0 || (!exec && spec == nil) {
			t.Fatalf("decodeConfig(%q) accepted %v %v", doc, spec, proc)
		}
	})
}

// checkKind fails t unless err carries an errdefs kind.
func checkKind(t *testing.T, what string, err error) {
	t.Helper()
	if errors.Is(errdefs.Resolve(err), errdefs.ErrUnknown) {
		t.Fatalf("%s: %v (%T): not an errdefs kind", what, err, err)
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
