package seccomp

import (
	"errors"
	"maps"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// specArches is every architecture the runtime-spec names.
var specArches = []specs.Arch{
	specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
	specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL, specs.ArchMIPSEL64,
	specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64, specs.ArchPPC64LE, specs.ArchS390,
	specs.ArchS390X, specs.ArchPARISC, specs.ArchPARISC64, specs.ArchRISCV64,
	specs.ArchLOONGARCH64, specs.ArchM68K, specs.ArchSH, specs.ArchSHEB,
}

// Features reports raind's seccomp support for the runtime-spec features
// document: every action, operator and flag Compile accepts, the
// architectures a filter on this machine can name, and the flags the
// running kernel accepts.
func Features() *features.Seccomp {
	enabled := true
	s := &features.Seccomp{Enabled: &enabled}
	for _, a := range slices.Sorted(maps.Keys(actions)) {
		s.Actions = append(s.Actions, string(a))
	}
	for _, o := range slices.Sorted(maps.Keys(operators)) {
		s.Operators = append(s.Operators, string(o))
	}
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		s.KnownFlags = append(s.KnownFlags, string(name))
		if kernelHasFlag(flags[name]) {
			s.SupportedFlags = append(s.SupportedFlags, string(name))
		}
	}
	s.Archs = addableArches()
	return s
}

// addableArches is the spec architectures a profile can name on this
// machine: known to libseccomp-golang and to the C library linked in, and
// of the native byte order (a filter cannot mix them, so s390x, say, is
// not one on x86_64).
func addableArches() []string {
	filter, err := libseccomp.NewFilter(libseccomp.ActAllow)
	if err != nil {
		return nil
	}
	defer filter.Release()
	var out []string
	for _, name := range specArches {
		if a, err := arch(name); err == nil && filter.AddArch(a) == nil {
			out = append(out, string(name))
		}
	}
	return out
}

// kernelHasFlag asks the kernel whether it knows a filter flag without
// installing anything: it checks the flags before it reads the program,
// so a NULL program fails with EFAULT for a known flag and EINVAL for an
// unknown one. WAIT_KILLABLE_RECV is only valid with NEW_LISTENER.
func kernelHasFlag(bit uintptr) bool {
	if bit == unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
		bit |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, bit, 0)
	return errors.Is(e, unix.EFAULT)
}
