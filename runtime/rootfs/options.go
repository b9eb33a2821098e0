package rootfs

import (
	"strings"

	"golang.org/x/sys/unix"
)

// mountFlag is one option of mount(8): the flag it sets, or clears.
type mountFlag struct {
	clear bool
	flag  uintptr
}

var mountFlags = map[string]mountFlag{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"mand":          {false, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

var propagationFlags = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// ParsedOptions is a spec mount's options split the way mount(2) wants.
type ParsedOptions struct {
	Flags       uintptr
	Propagation []uintptr
	Data        string
	// RecursiveReadonly ("rro") makes a bind and every mount below it
	// read-only; MS_RDONLY on a remount reaches only the top mount.
	RecursiveReadonly bool
}

// ParseMountOptions splits options into mount flags, propagation changes
// (each a separate mount(2) call) and the filesystem's own data string.
func ParseMountOptions(options []string) ParsedOptions {
	var p ParsedOptions
	var data []string
	for _, o := range options {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				p.Flags &^= f.flag
			} else {
				p.Flags |= f.flag
			}
			continue
		}
		if o == "rro" {
			p.RecursiveReadonly = true
			continue
		}
		if o == "idmap" || o == "ridmap" {
			// The mapping is made outside (Options.MountFDs); mount(2)
			// must never see these.
			continue
		}
		if f, ok := propagationFlags[o]; ok {
			p.Propagation = append(p.Propagation, f)
			continue
		}
		data = append(data, o)
	}
	p.Data = strings.Join(data, ",")
	return p
}

// isBind reports whether a spec mount is a bind mount.
func isBind(typ string, options []string) bool {
	if typ == "bind" {
		return true
	}
	for _, o := range options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}
