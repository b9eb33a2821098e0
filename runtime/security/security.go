// Package security applies a container process's credentials, capabilities,
// rlimits and no_new_privs on the calling OS thread, at the points of the
// init's set-up its caller chooses (runc's order: no_new_privs, rlimits,
// then user and capabilities).
//
// Credentials are changed with raw per-thread syscalls: the caller execs
// from this thread, which then becomes the process's only thread, so the
// other Go threads never matter. It must not do mounts or namespaces.
package security

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// capNames is capabilities(7) in kernel numbering.
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// lastCap is the highest capability the running kernel knows.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return len(capNames) - 1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return len(capNames) - 1
	}
	return n
}

// ParseCapabilities maps capability names to numbers. Names the running
// kernel does not know are dropped, as a newer spec may name them.
func ParseCapabilities(names []string) ([]int, error) {
	return parseCaps(names, lastCap())
}

func parseCaps(names []string, last int) ([]int, error) {
	var caps []int
	for _, name := range names {
		n := -1
		for i, c := range capNames {
			if strings.EqualFold(c, name) {
				n = i
				break
			}
		}
		if n < 0 {
			return nil, fmt.Errorf("unknown capability %q: %w", name, errdefs.ErrInvalidArgument)
		}
		if n <= last {
			caps = append(caps, n)
		}
	}
	return caps, nil
}

var rlimitNames = map[string]int{
	"RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
}

func rlimitResource(name string) (int, error) {
	r, ok := rlimitNames[strings.ToUpper(name)]
	if !ok {
		return 0, fmt.Errorf("unknown rlimit %q: %w", name, errdefs.ErrInvalidArgument)
	}
	return r, nil
}

// ApplyRlimits sets the spec's rlimits on this process.
func ApplyRlimits(rl []specs.POSIXRlimit) error {
	for _, l := range rl {
		r, err := rlimitResource(l.Type)
		if err != nil {
			return err
		}
		lim := unix.Rlimit{Cur: l.Soft, Max: l.Hard}
		if err := unix.Prlimit(0, r, &lim, nil); err != nil {
			return fmt.Errorf("set %s to %d/%d: %w", l.Type, l.Soft, l.Hard, err)
		}
	}
	return nil
}

// capSet is one capability set as the kernel's two 32-bit words.
type capSet [2]uint32

func toSet(caps []int) capSet {
	var s capSet
	for _, c := range caps {
		s[c/32] |= 1 << (uint(c) % 32)
	}
	return s
}

func (s capSet) has(c int) bool { return s[c/32]&(1<<(uint(c)%32)) != 0 }

// SetNoNewPrivileges sets no_new_privs, which execve keeps. runc sets it
// before the user and capability switch (and before a seccomp filter,
// which without it would need CAP_SYS_ADMIN).
func SetNoNewPrivileges() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	return nil
}

// Finalize switches this thread to the process's user and capabilities.
// Order matters: the bounding set can only shrink while CAP_SETPCAP is
// still effective, and KEEPCAPS keeps the permitted set across the switch
// away from uid 0, after which the wanted sets are installed exactly.
func Finalize(user specs.User, caps *specs.LinuxCapabilities) error {
	if caps == nil {
		caps = &specs.LinuxCapabilities{}
	}
	last := lastCap()
	parse := func(kind string, names []string) (capSet, error) {
		c, err := parseCaps(names, last)
		if err != nil {
			return capSet{}, fmt.Errorf("%s capabilities: %w", kind, err)
		}
		return toSet(c), nil
	}
	bounding, err := parse("bounding", caps.Bounding)
	if err != nil {
		return err
	}
	effective, err := parse("effective", caps.Effective)
	if err != nil {
		return err
	}
	permitted, err := parse("permitted", caps.Permitted)
	if err != nil {
		return err
	}
	inheritable, err := parse("inheritable", caps.Inheritable)
	if err != nil {
		return err
	}
	ambient, err := parseCaps(caps.Ambient, last)
	if err != nil {
		return fmt.Errorf("ambient capabilities: %w", err)
	}

	for c := 0; c <= last; c++ {
		if bounding.has(c) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := setGroups(user.AdditionalGids); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keep capabilities: %w", err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(user.GID), uintptr(user.GID), uintptr(user.GID)); e != 0 {
		return fmt.Errorf("set gid %d: %w", user.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(user.UID), uintptr(user.UID), uintptr(user.UID)); e != 0 {
		return fmt.Errorf("set uid %d: %w", user.UID, e)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("reset keep capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := 0; i < 2; i++ {
		data[i] = unix.CapUserData{Effective: effective[i], Permitted: permitted[i], Inheritable: inheritable[i]}
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for _, c := range ambient {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("raise ambient capability %s: %w", capNames[c], err)
		}
	}
	return nil
}

func setGroups(gids []uint32) error {
	var e unix.Errno
	if len(gids) == 0 {
		_, _, e = unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0)
	} else {
		_, _, e = unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), uintptr(unsafe.Pointer(&gids[0])), 0)
	}
	if e != 0 {
		return fmt.Errorf("set additional groups %v: %w", gids, e)
	}
	return nil
}
