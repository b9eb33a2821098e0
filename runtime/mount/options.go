//go:build linux

package mount

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// options is a mount's option list split the way mount(2) takes it.
type options struct {
	flags uintptr
	// propagation holds one flag set per propagation option, in order: the
	// kernel accepts a single propagation type per mount call and none
	// together with other flags.
	propagation []uintptr
	// data is everything the VFS does not know, for the filesystem to parse.
	data []string
	// recursiveRO ("rro") makes the mount and every mount below it
	// read-only with mount_setattr(2); MS_RDONLY reaches the top mount only.
	recursiveRO bool
	// idmap is uidmap= and gidmap= (idmapped_linux.go).
	idmap idMapping
}

// perMountFlags are the flags a bind mount ignores on its first call and only
// takes on a remount.
const perMountFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC |
	unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME | unix.MS_NOSYMFOLLOW

// flagOption returns what option o sets and clears in the mount flags; ok is
// false when o is not a flag. A switch rather than a map keeps the table
// immutable.
func flagOption(o string) (set, unset uintptr, ok bool) {
	switch o {
	case "defaults":
		// mount(8) reads it as "nothing special"; handing it to the kernel
		// as data would make most filesystems refuse the mount.
		return 0, 0, true
	case "ro":
		return unix.MS_RDONLY, 0, true
	case "rw":
		return 0, unix.MS_RDONLY, true
	case "nosuid":
		return unix.MS_NOSUID, 0, true
	case "suid":
		return 0, unix.MS_NOSUID, true
	case "nodev":
		return unix.MS_NODEV, 0, true
	case "dev":
		return 0, unix.MS_NODEV, true
	case "noexec":
		return unix.MS_NOEXEC, 0, true
	case "exec":
		return 0, unix.MS_NOEXEC, true
	case "sync":
		return unix.MS_SYNCHRONOUS, 0, true
	case "async":
		return 0, unix.MS_SYNCHRONOUS, true
	case "dirsync":
		return unix.MS_DIRSYNC, 0, true
	case "remount":
		return unix.MS_REMOUNT, 0, true
	case "mand":
		return unix.MS_MANDLOCK, 0, true
	case "nomand":
		return 0, unix.MS_MANDLOCK, true
	case "atime":
		return 0, unix.MS_NOATIME, true
	case "noatime":
		return unix.MS_NOATIME, 0, true
	case "diratime":
		return 0, unix.MS_NODIRATIME, true
	case "nodiratime":
		return unix.MS_NODIRATIME, 0, true
	case "relatime":
		return unix.MS_RELATIME, 0, true
	case "norelatime":
		return 0, unix.MS_RELATIME, true
	case "strictatime":
		return unix.MS_STRICTATIME, 0, true
	case "nostrictatime":
		return 0, unix.MS_STRICTATIME, true
	case "symfollow":
		return 0, unix.MS_NOSYMFOLLOW, true
	case "nosymfollow":
		// A per-mount flag with no superblock counterpart, so the kernel
		// would not understand it as data.
		return unix.MS_NOSYMFOLLOW, 0, true
	case "bind":
		return unix.MS_BIND, 0, true
	case "rbind":
		return unix.MS_BIND | unix.MS_REC, 0, true
	}
	return 0, 0, false
}

func propagationOption(o string) (uintptr, bool) {
	switch o {
	case "private":
		return unix.MS_PRIVATE, true
	case "rprivate":
		return unix.MS_PRIVATE | unix.MS_REC, true
	case "shared":
		return unix.MS_SHARED, true
	case "rshared":
		return unix.MS_SHARED | unix.MS_REC, true
	case "slave":
		return unix.MS_SLAVE, true
	case "rslave":
		return unix.MS_SLAVE | unix.MS_REC, true
	case "unbindable":
		return unix.MS_UNBINDABLE, true
	case "runbindable":
		return unix.MS_UNBINDABLE | unix.MS_REC, true
	}
	return 0, false
}

// parseOptions turns an option list into flags, propagation changes and
// data. Each element is one option, as containerd hands them: an element
// holding commas is data, because filesystems such as overlay escape commas
// inside values and only they know how.
func parseOptions(opts []string) (options, error) {
	var o options
	for _, s := range opts {
		if ok, err := parseIDMapOption(s, &o.idmap); ok {
			if err != nil {
				return options{}, err
			}
			continue
		}
		if err := refusedOption(s); err != nil {
			return options{}, err
		}
		if set, unset, ok := flagOption(s); ok {
			o.flags = o.flags&^unset | set
			continue
		}
		if p, ok := propagationOption(s); ok {
			o.propagation = append(o.propagation, p)
			continue
		}
		if s == "rro" {
			o.recursiveRO = true
			continue
		}
		o.data = append(o.data, s)
	}
	return o, nil
}

// refusedOption rejects what containerd's mount manager or its mount helpers
// act on before the kernel sees a mount. Passed on as data they would fail
// with a bare EINVAL, or, worse, be accepted and mean something else.
func refusedOption(o string) error {
	var why string
	switch {
	case o == "loop":
		why = "needs a loop device set up"
	case strings.HasPrefix(o, "X-containerd."):
		why = "is for containerd's mount manager"
	default:
		return nil
	}
	return fmt.Errorf("option %q %s: %w", o, why, errdefs.ErrNotImplemented)
}

// refusedType rejects mount types that are not a kernel filesystem type.
func refusedType(typ string) error {
	var why string
	switch {
	case strings.Contains(typ, "/"):
		// "format/", "mkfs/", "mkdir/" and later transforms: the mount
		// manager rewrites the mount before it is a real one.
		why = "carries a mount manager transform (" + typ[:strings.Index(typ, "/")] + "/)"
	case strings.HasPrefix(typ, "fuse."), strings.HasPrefix(typ, "fuse3."):
		why = "needs a FUSE mount helper"
	default:
		return nil
	}
	return fmt.Errorf("mount type %q %s: %w", typ, why, errdefs.ErrNotImplemented)
}
