package procattr

import (
	"fmt"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Execution domains and flags of personality(2)
// (include/uapi/linux/personality.h).
const (
	perLinux   = 0x0000
	perLinux32 = 0x0008
)

// personalityFlag maps the kernel's flag names. The spec defines none yet
// and leaves the names open; these are the kernel's own, so a spec naming
// one gets exactly that flag, and any other name is refused rather than
// dropped (runc ignores all flags with a warning).
func personalityFlag(f specs.LinuxPersonalityFlag) (uint, bool) {
	switch f {
	case "UNAME26":
		return 0x0020000, true
	case "ADDR_NO_RANDOMIZE":
		return 0x0040000, true
	case "FDPIC_FUNCPTRS":
		return 0x0080000, true
	case "MMAP_PAGE_ZERO":
		return 0x0100000, true
	case "ADDR_COMPAT_LAYOUT":
		return 0x0200000, true
	case "READ_IMPLIES_EXEC":
		return 0x0400000, true
	case "ADDR_LIMIT_32BIT":
		return 0x0800000, true
	case "SHORT_INODE":
		return 0x1000000, true
	case "WHOLE_SECONDS":
		return 0x2000000, true
	case "STICKY_TIMEOUTS":
		return 0x4000000, true
	case "ADDR_LIMIT_3GB":
		return 0x8000000, true
	}
	return 0, false
}

// Personality checks linux.personality and encodes it for personality(2).
func Personality(p *specs.LinuxPersonality) (uint, bool, error) {
	if p == nil {
		return 0, false, nil
	}
	var v uint
	switch p.Domain {
	case specs.PerLinux:
		v = perLinux
	case specs.PerLinux32:
		v = perLinux32
	default:
		return 0, false, fmt.Errorf("linux.personality: unknown domain %q: %w", p.Domain, errdefs.ErrInvalidArgument)
	}
	for _, f := range p.Flags {
		bit, ok := personalityFlag(f)
		if !ok {
			return 0, false, fmt.Errorf("linux.personality: unknown flag %q: %w", f, errdefs.ErrInvalidArgument)
		}
		v |= bit
	}
	return v, true, nil
}

// SetPersonality applies linux.personality to the calling thread; execve
// keeps it (and applies ADDR_NO_RANDOMIZE and the like to the new image).
func SetPersonality(p *specs.LinuxPersonality) error {
	v, ok, err := Personality(p)
	if err != nil || !ok {
		return err
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, uintptr(v), 0, 0); e != 0 {
		return fmt.Errorf("linux.personality: the kernel refused personality(%#x): %w", v, e)
	}
	return nil
}
