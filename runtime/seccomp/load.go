package seccomp

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Load installs the filter on the calling thread (on every thread of the
// process with SECCOMP_FILTER_FLAG_TSYNC), and returns the notify listener
// when the profile has SCMP_ACT_NOTIFY rules, else nil. The caller must
// have set no_new_privs or hold CAP_SYS_ADMIN, and should have locked
// the goroutine to its thread: the filter stays with the thread. A nil
// filter loads nothing.
func (f *Filter) Load() (*os.File, error) {
	if f == nil {
		return nil, nil
	}
	if len(f.prog) == 0 {
		return nil, errors.New("seccomp: empty BPF program")
	}
	prog := unix.SockFprog{Len: uint16(len(f.prog)), Filter: &f.prog[0]}
	r, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, f.flags, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(f.prog)
	if e != 0 {
		switch {
		case e == unix.EACCES:
			return nil, fmt.Errorf("load seccomp filter: %w (neither no_new_privs nor CAP_SYS_ADMIN)", e)
		case e == unix.EINVAL:
			return nil, fmt.Errorf("load seccomp filter with flags %#x: %w (a flag this kernel lacks?)", f.flags, e)
		}
		return nil, fmt.Errorf("load seccomp filter: %w", e)
	}
	if f.flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 && f.flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 && r != 0 {
		// Without a listener, a TSYNC failure is reported as the id of
		// the thread that could not be synchronised.
		return nil, fmt.Errorf("load seccomp filter: thread %d cannot be synchronised", r)
	}
	if !f.Notify() {
		return nil, nil
	}
	return os.NewFile(r, "seccomp-listener"), nil
}
