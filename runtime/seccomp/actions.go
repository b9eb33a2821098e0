package seccomp

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// actions maps the spec's action names to libseccomp's. SCMP_ACT_KILL is
// the old name of SCMP_ACT_KILL_THREAD.
var actions = map[specs.LinuxSeccompAction]libseccomp.ScmpAction{
	specs.ActKill:        libseccomp.ActKillThread,
	specs.ActKillThread:  libseccomp.ActKillThread,
	specs.ActKillProcess: libseccomp.ActKillProcess,
	specs.ActTrap:        libseccomp.ActTrap,
	specs.ActErrno:       libseccomp.ActErrno,
	specs.ActTrace:       libseccomp.ActTrace,
	specs.ActAllow:       libseccomp.ActAllow,
	specs.ActLog:         libseccomp.ActLog,
	specs.ActNotify:      libseccomp.ActNotify,
}

// operators maps the spec's comparison names to libseccomp's.
var operators = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

// flags maps the spec's filter flags to seccomp(2)'s. raind passes them to
// the kernel itself, so a flag libseccomp does not know (WAIT_KILLABLE_RECV
// needs libseccomp 2.6) works all the same.
var flags = map[specs.LinuxSeccompFlag]uintptr{
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
	"SECCOMP_FILTER_FLAG_TSYNC":            unix.SECCOMP_FILTER_FLAG_TSYNC,
}

// defaultErrno is what ERRNO and TRACE return when the profile names no
// errnoRet, as the runtime-spec says.
const defaultErrno = uint(unix.EPERM)

// action is the libseccomp action for name, with errnoRet for the actions
// that carry one. field names the profile field in errors.
func action(name specs.LinuxSeccompAction, errnoRet *uint, field string) (libseccomp.ScmpAction, error) {
	act, ok := actions[name]
	if !ok {
		return 0, fmt.Errorf("seccomp %s: unknown action %q: %w", field, name, errdefs.ErrInvalidArgument)
	}
	if act != libseccomp.ActErrno && act != libseccomp.ActTrace {
		if errnoRet != nil {
			// The spec: an action that cannot return an errno fails.
			return 0, fmt.Errorf("seccomp %s: action %s takes no errnoRet: %w", field, name, errdefs.ErrInvalidArgument)
		}
		return act, nil
	}
	errno := defaultErrno
	if errnoRet != nil {
		errno = *errnoRet
	}
	// SECCOMP_RET_DATA is 16 bits.
	if errno > unix.SECCOMP_RET_DATA {
		return 0, fmt.Errorf("seccomp %s: errnoRet %d does not fit in 16 bits: %w", field, errno, errdefs.ErrInvalidArgument)
	}
	return act.SetReturnCode(int16(uint16(errno))), nil
}

// arch is libseccomp's architecture for a spec name such as SCMP_ARCH_X86_64.
func arch(name specs.Arch) (libseccomp.ScmpArch, error) {
	short, ok := strings.CutPrefix(string(name), "SCMP_ARCH_")
	if !ok {
		return 0, fmt.Errorf("unknown architecture %q", name)
	}
	return libseccomp.GetArchFromString(strings.ToLower(short))
}
