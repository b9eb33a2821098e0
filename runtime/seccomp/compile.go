package seccomp

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Filter is a compiled profile: the BPF program and the seccomp(2) flags
// to load it with. A nil *Filter is no profile.
type Filter struct {
	prog  []unix.SockFilter
	flags uintptr
}

// Notify reports whether loading the filter yields a listener for a
// seccomp agent (the profile has a SCMP_ACT_NOTIFY rule).
func (f *Filter) Notify() bool {
	return f != nil && f.flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
}

// Len is the program's length in BPF instructions.
func (f *Filter) Len() int {
	if f == nil {
		return 0
	}
	return len(f.prog)
}

// maxInsns is the kernel's BPF_MAXINSNS, the longest filter it loads.
const maxInsns = 4096

// maxArgs is the number of syscall arguments a condition can test.
const maxArgs = 6

// notifyForbidden are the syscalls a SCMP_ACT_NOTIFY rule must not cover:
// the init hands the listener to the shim with sendmsg after the filter
// is loaded, so a notified sendmsg would wait for an agent that cannot get
// the listener yet.
var notifyForbidden = map[string]bool{"sendmsg": true}

// Compile turns a profile into a filter. A nil profile is no filter. Errors
// in the profile are errdefs.ErrInvalidArgument and name the field.
// Syscall names libseccomp does not know are skipped: a profile may list
// syscalls newer than the library, which this kernel then cannot have
// either (the profile's default action covers them).
func Compile(p *specs.LinuxSeccomp) (*Filter, error) {
	if p == nil {
		return nil, nil
	}
	def, err := action(p.DefaultAction, p.DefaultErrnoRet, "defaultAction")
	if err != nil {
		return nil, err
	}
	if def == libseccomp.ActNotify {
		return nil, fmt.Errorf("seccomp defaultAction: SCMP_ACT_NOTIFY would notify the syscalls that hand the listener over: %w", errdefs.ErrInvalidArgument)
	}
	f := &Filter{}
	for i, name := range p.Flags {
		bit, ok := flags[name]
		if !ok {
			return nil, fmt.Errorf("seccomp flags[%d]: unknown flag %q: %w", i, name, errdefs.ErrInvalidArgument)
		}
		f.flags |= bit
	}

	filter, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("seccomp: new libseccomp filter: %w", err)
	}
	defer filter.Release()
	for i, name := range p.Architectures {
		a, err := arch(name)
		if err == nil {
			err = filter.AddArch(a)
		}
		if err != nil {
			return nil, fmt.Errorf("seccomp architectures[%d] %q: %v: %w", i, name, err, errdefs.ErrInvalidArgument)
		}
	}
	// A long profile is a long chain of comparisons that every syscall
	// walks (containerd's default: some 350 names); libseccomp can order
	// it as a binary tree instead, a longer program of which a syscall
	// runs a few levels. (libseccomp 2.5 mishandles the tree for a profile
	// without rules, hence the threshold.)
	names := 0
	for _, sc := range p.Syscalls {
		names += len(sc.Names)
	}
	if names > 32 {
		if err := filter.SetOptimize(2); err != nil {
			return nil, fmt.Errorf("seccomp: binary tree optimisation: %w", err)
		}
	}
	for i := range p.Syscalls {
		notify, err := addRules(filter, def, &p.Syscalls[i], i)
		if err != nil {
			return nil, err
		}
		if notify {
			f.flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		}
	}
	if f.Notify() && p.ListenerPath == "" {
		return nil, fmt.Errorf("seccomp listenerPath: a SCMP_ACT_NOTIFY rule needs an agent to notify: %w", errdefs.ErrInvalidArgument)
	}
	if f.flags&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 && !f.Notify() {
		return nil, fmt.Errorf("seccomp flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a SCMP_ACT_NOTIFY rule: %w", errdefs.ErrInvalidArgument)
	}
	if f.Notify() && f.flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
		// The kernel refuses TSYNC with a listener unless a thread that
		// cannot be synchronised fails the call with ESRCH instead of
		// being reported in the return value, which is the listener's.
		f.flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
	}

	f.prog, err = export(filter)
	if err != nil {
		return nil, err
	}
	if len(f.prog) > maxInsns {
		return nil, fmt.Errorf("seccomp: the profile compiles to %d BPF instructions, more than the kernel's %d: %w",
			len(f.prog), maxInsns, errdefs.ErrInvalidArgument)
	}
	return f, nil
}

// addRules adds syscalls[i] to filter, and reports whether it notifies.
func addRules(filter *libseccomp.ScmpFilter, def libseccomp.ScmpAction, sc *specs.LinuxSyscall, i int) (bool, error) {
	field := fmt.Sprintf("syscalls[%d]", i)
	if len(sc.Names) == 0 {
		return false, fmt.Errorf("seccomp %s.names: empty: %w", field, errdefs.ErrInvalidArgument)
	}
	act, err := action(sc.Action, sc.ErrnoRet, field+".action")
	if err != nil {
		return false, err
	}
	conds, err := conditions(sc.Args, field)
	if err != nil {
		return false, err
	}
	notify := act == libseccomp.ActNotify
	for j, name := range sc.Names {
		if name == "" {
			return false, fmt.Errorf("seccomp %s.names[%d]: empty: %w", field, j, errdefs.ErrInvalidArgument)
		}
		if notify && notifyForbidden[name] {
			return false, fmt.Errorf("seccomp %s: SCMP_ACT_NOTIFY on %s: the init needs it to hand the listener over: %w", field, name, errdefs.ErrInvalidArgument)
		}
	}
	if act == def {
		// libseccomp refuses a rule that repeats the default action; it
		// would change nothing.
		return false, nil
	}
	added := false
	for _, name := range sc.Names {
		nr, err := libseccomp.GetSyscallFromName(name)
		if err != nil {
			continue
		}
		for _, c := range conds {
			if err := filter.AddRuleConditional(nr, act, c); err != nil {
				return false, fmt.Errorf("seccomp %s: rule for %s: %v: %w", field, name, err, errdefs.ErrInvalidArgument)
			}
		}
		added = true
	}
	return notify && added, nil
}

// conditions turns a rule's args into the condition sets to add, one
// libseccomp rule each. Conditions on distinct arguments must all hold, as
// the runtime-spec says. libseccomp cannot AND two conditions on one
// argument; profiles in use (Docker's, containerd's) rely on such a rule
// matching when any one of them holds, so that case becomes one rule per
// condition. No args is one unconditional rule.
func conditions(args []specs.LinuxSeccompArg, field string) ([][]libseccomp.ScmpCondition, error) {
	var all []libseccomp.ScmpCondition
	var seen [maxArgs]bool
	repeated := false
	for k, a := range args {
		f := fmt.Sprintf("%s.args[%d]", field, k)
		if a.Index >= maxArgs {
			return nil, fmt.Errorf("seccomp %s.index: %d, but syscalls have %d arguments: %w", f, a.Index, maxArgs, errdefs.ErrInvalidArgument)
		}
		op, ok := operators[a.Op]
		if !ok {
			return nil, fmt.Errorf("seccomp %s.op: unknown operator %q: %w", f, a.Op, errdefs.ErrInvalidArgument)
		}
		values := []uint64{a.Value}
		if op == libseccomp.CompareMaskedEqual {
			// (arg & value) == valueTwo
			values = append(values, a.ValueTwo)
		}
		c, err := libseccomp.MakeCondition(a.Index, op, values...)
		if err != nil {
			return nil, fmt.Errorf("seccomp %s: %v: %w", f, err, errdefs.ErrInvalidArgument)
		}
		repeated = repeated || seen[a.Index]
		seen[a.Index] = true
		all = append(all, c)
	}
	if len(all) == 0 {
		return [][]libseccomp.ScmpCondition{nil}, nil
	}
	if !repeated {
		return [][]libseccomp.ScmpCondition{all}, nil
	}
	sets := make([][]libseccomp.ScmpCondition, len(all))
	for k, c := range all {
		sets[k] = []libseccomp.ScmpCondition{c}
	}
	return sets, nil
}

// export has libseccomp write the program into a memory file (libseccomp
// 2.5 exports only to an fd) and reads it back as instructions.
func export(filter *libseccomp.ScmpFilter) ([]unix.SockFilter, error) {
	fd, err := unix.MemfdCreate("seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("seccomp: memfd for the BPF program: %w", err)
	}
	mf := os.NewFile(uintptr(fd), "seccomp-bpf")
	defer mf.Close()
	if err := filter.ExportBPF(mf); err != nil {
		return nil, fmt.Errorf("seccomp: export BPF: %w", err)
	}
	if _, err := mf.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seccomp: rewind BPF program: %w", err)
	}
	raw, err := io.ReadAll(mf)
	if err != nil {
		return nil, fmt.Errorf("seccomp: read BPF program: %w", err)
	}
	return decodeProgram(raw)
}

// insnSize is the size of struct sock_filter: u16 code, u8 jt, u8 jf,
// u32 k, in the machine's byte order.
const insnSize = 8

func decodeProgram(raw []byte) ([]unix.SockFilter, error) {
	if len(raw) == 0 || len(raw)%insnSize != 0 {
		return nil, fmt.Errorf("seccomp: BPF program of %d bytes is not whole instructions", len(raw))
	}
	prog := make([]unix.SockFilter, len(raw)/insnSize)
	for i := range prog {
		b := raw[i*insnSize:]
		prog[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b[0:2]),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:8]),
		}
	}
	return prog, nil
}
