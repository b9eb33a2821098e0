package seccomp

import (
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func uintp(v uint) *uint { return &v }

func TestCompileNil(t *testing.T) {
	f, err := Compile(nil)
	if f != nil || err != nil {
		t.Fatalf("Compile(nil) = %v, %v", f, err)
	}
	if l, err := f.Load(); l != nil || err != nil {
		t.Fatalf("nil filter Load = %v, %v", l, err)
	}
}

// TestCompileRefuses: every malformed profile is an InvalidArgument whose
// message names the field, never a panic.
func TestCompileRefuses(t *testing.T) {
	allow := func(mod func(*specs.LinuxSeccomp)) *specs.LinuxSeccomp {
		p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
		mod(p)
		return p
	}
	rule := func(sc specs.LinuxSyscall) *specs.LinuxSeccomp {
		return allow(func(p *specs.LinuxSeccomp) { p.Syscalls = []specs.LinuxSyscall{sc} })
	}
	for _, tc := range []struct {
		name, field string
		p           *specs.LinuxSeccomp
	}{
		{"empty default action", "defaultAction", &specs.LinuxSeccomp{}},
		{"unknown default action", "defaultAction", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS"}},
		{"notify as default", "defaultAction", &specs.LinuxSeccomp{DefaultAction: specs.ActNotify, ListenerPath: "/x"}},
		{"errno on allow", "defaultAction", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: uintp(1)}},
		{"errno too big", "defaultAction", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(1 << 16)}},
		{"unknown flag", "flags[0]", allow(func(p *specs.LinuxSeccomp) { p.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"} })},
		{"unknown arch", "architectures[1]", allow(func(p *specs.LinuxSeccomp) { p.Architectures = []specs.Arch{specs.ArchX86, "SCMP_ARCH_VAX"} })},
		{"arch without prefix", "architectures[0]", allow(func(p *specs.LinuxSeccomp) { p.Architectures = []specs.Arch{"x86_64"} })},
		{"no names", "syscalls[0].names", rule(specs.LinuxSyscall{Action: specs.ActErrno})},
		{"empty name", "syscalls[0].names[1]", rule(specs.LinuxSyscall{Names: []string{"getpid", ""}, Action: specs.ActErrno})},
		{"unknown action", "syscalls[0].action", rule(specs.LinuxSyscall{Names: []string{"getpid"}, Action: "SCMP_ACT_MAYBE"})},
		{"errnoRet on kill", "syscalls[0].action", rule(specs.LinuxSyscall{Names: []string{"getpid"}, Action: specs.ActKillProcess, ErrnoRet: uintp(1)})},
		{"arg index", "syscalls[0].args[0].index", rule(specs.LinuxSyscall{Names: []string{"getpid"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}})},
		{"arg op", "syscalls[0].args[1].op", rule(specs.LinuxSyscall{Names: []string{"getpid"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo}, {Index: 1, Op: "SCMP_CMP_ABOUT"}}})},
		{"notify without listener", "listenerPath", rule(specs.LinuxSyscall{Names: []string{"getpid"}, Action: specs.ActNotify})},
		{"notify on sendmsg", "syscalls[0]", allow(func(p *specs.LinuxSeccomp) {
			p.ListenerPath = "/x"
			p.Syscalls = []specs.LinuxSyscall{{Names: []string{"sendmsg"}, Action: specs.ActNotify}}
		})},
		{"wait killable without notify", "flags", allow(func(p *specs.LinuxSeccomp) {
			p.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Compile(tc.p)
			if err == nil {
				t.Fatalf("compiled %+v", f)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("error %v is not InvalidArgument", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestCompileFlags(t *testing.T) {
	notify := specs.LinuxSyscall{Names: []string{"getpid"}, Action: specs.ActNotify}
	for _, tc := range []struct {
		name  string
		p     specs.LinuxSeccomp
		flags uintptr
	}{
		{"none", specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, 0},
		{"log and spec", specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}},
			unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW},
		{"tsync", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"}},
			unix.SECCOMP_FILTER_FLAG_TSYNC},
		{"notify", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/a", Syscalls: []specs.LinuxSyscall{notify}},
			unix.SECCOMP_FILTER_FLAG_NEW_LISTENER},
		{"notify tsync wait", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/a", Syscalls: []specs.LinuxSyscall{notify},
			Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagWaitKillableRecv}},
			unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH |
				unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
		// Notify on syscalls libseccomp does not know adds no rule, so
		// there is nothing to listen for.
		{"notify unknown", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/a",
			Syscalls: []specs.LinuxSyscall{{Names: []string{"no_such_syscall"}, Action: specs.ActNotify}}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Compile(&tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if f.flags != tc.flags {
				t.Errorf("flags %#x, want %#x", f.flags, tc.flags)
			}
			if f.Notify() != (tc.flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0) {
				t.Errorf("Notify() = %v", f.Notify())
			}
		})
	}
}

// TestCompileSkipsUnknownSyscalls: a name libseccomp does not know is
// skipped, and the program is the one without it.
func TestCompileSkipsUnknownSyscalls(t *testing.T) {
	base := specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: specs.ActAllow}}}
	want, err := Compile(&base)
	if err != nil {
		t.Fatal(err)
	}
	base.Syscalls[0].Names = append(base.Syscalls[0].Names, "syscall_from_the_future")
	got, err := Compile(&base)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != want.Len() {
		t.Fatalf("%d instructions with an unknown name, %d without", got.Len(), want.Len())
	}
	// A rule that repeats the default action changes nothing either.
	base.Syscalls = append(base.Syscalls, specs.LinuxSyscall{Names: []string{"getppid"}, Action: specs.ActErrno})
	got, err = Compile(&base)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != want.Len() {
		t.Fatalf("%d instructions with a default-action rule, %d without", got.Len(), want.Len())
	}
}

// TestCompileDefaultProfiles: the profiles containers are run with in
// practice compile, as containerd (and nerdctl) and Docker build them for
// a container without and with CAP_SYS_ADMIN.
func TestCompileDefaultProfiles(t *testing.T) {
	for _, caps := range [][]string{nil, {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_TIME"}} {
		sp := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps}}}
		containerd := seccomp.DefaultProfile(sp)
		docker, err := mobyseccomp.GetDefaultProfile(sp)
		if err != nil {
			t.Fatal(err)
		}
		for name, p := range map[string]*specs.LinuxSeccomp{"containerd": containerd, "docker": docker} {
			f, err := Compile(p)
			if err != nil {
				t.Fatalf("%s profile with caps %v: %v", name, caps, err)
			}
			if f.Len() < 50 || f.Notify() {
				t.Errorf("%s profile: %d instructions, notify %v", name, f.Len(), f.Notify())
			}
		}
	}
	// oci.WithDefaultProfile is how a containerd client asks for it.
	var s oci.Spec
	s.Process = &specs.Process{Capabilities: &specs.LinuxCapabilities{}}
	s.Linux = &specs.Linux{}
	if err := seccomp.WithDefaultProfile()(t.Context(), nil, nil, &s); err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(s.Linux.Seccomp); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeProgram(t *testing.T) {
	for _, n := range []int{0, 7, 9} {
		if _, err := decodeProgram(make([]byte, n)); err == nil {
			t.Errorf("%d bytes decoded", n)
		}
	}
	p, err := decodeProgram([]byte{0x06, 0x00, 1, 2, 0x00, 0x00, 0xff, 0x7f})
	if err != nil {
		t.Fatal(err)
	}
	if want := (unix.SockFilter{Code: 6, Jt: 1, Jf: 2, K: 0x7fff0000}); p[0] != want {
		t.Fatalf("decoded %+v, want %+v", p[0], want)
	}
}

func TestFeatures(t *testing.T) {
	f := Features()
	if f.Enabled == nil || !*f.Enabled {
		t.Fatal("not enabled")
	}
	has := func(list []string, v string) bool {
		for _, s := range list {
			if s == v {
				return true
			}
		}
		return false
	}
	for _, a := range []string{"SCMP_ACT_NOTIFY", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL"} {
		if !has(f.Actions, a) {
			t.Errorf("actions %v lack %s", f.Actions, a)
		}
	}
	if len(f.Operators) != 7 || !has(f.Operators, "SCMP_CMP_MASKED_EQ") {
		t.Errorf("operators %v", f.Operators)
	}
	if !has(f.Archs, "SCMP_ARCH_X86_64") || !has(f.Archs, "SCMP_ARCH_AARCH64") {
		t.Errorf("archs %v", f.Archs)
	}
	if len(f.KnownFlags) != 4 {
		t.Errorf("known flags %v", f.KnownFlags)
	}
	// Every kernel raind runs on (5.x and later) has these.
	for _, fl := range []string{"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"} {
		if !has(f.SupportedFlags, fl) {
			t.Errorf("supported flags %v lack %s", f.SupportedFlags, fl)
		}
	}
	for _, fl := range f.SupportedFlags {
		if !has(f.KnownFlags, fl) {
			t.Errorf("supported flag %s is not known", fl)
		}
	}
}

// TestCompileEveryActionAndOperator: libseccomp takes every action and
// operator Compile maps, with an errnoRet where one is allowed.
func TestCompileEveryActionAndOperator(t *testing.T) {
	for name := range actions {
		if name == specs.ActNotify {
			continue // as a rule only; TestCompileFlags covers it
		}
		sc := specs.LinuxSyscall{Names: []string{"getppid"}, Action: specs.ActAllow}
		p := &specs.LinuxSeccomp{DefaultAction: name, Syscalls: []specs.LinuxSyscall{sc}}
		if name == specs.ActErrno || name == specs.ActTrace {
			p.DefaultErrnoRet = uintp(uint(unix.ENOSYS))
		}
		if name == specs.ActAllow {
			p.Syscalls[0].Action = specs.ActLog
		}
		if _, err := Compile(p); err != nil {
			t.Errorf("default action %s: %v", name, err)
		}
	}
	for op := range operators {
		p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
			Names: []string{"personality"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: op, Value: 0xff, ValueTwo: 1}, {Index: 1, Op: op, Value: 2}},
		}}}
		f, err := Compile(p)
		if err != nil {
			t.Errorf("operator %s: %v", op, err)
			continue
		}
		if f.Len() < 8 {
			t.Errorf("operator %s: %d instructions, the condition is missing", op, f.Len())
		}
	}
}
