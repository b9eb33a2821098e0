package rootfs

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// confinedFS is the recording fake that also fails the test when a mount
// lands outside the container's root: whatever a spec mount says, its
// target resolves inside.
type confinedFS struct {
	*fakeFS
	t    *testing.T
	root string
}

func (c confinedFS) Mount(source, target, fstype string, flags uintptr, data string) error {
	if target != c.root && !strings.HasPrefix(target, c.root+"/") {
		c.t.Fatalf("mount %q on %q, outside the root %s", source, target, c.root)
	}
	return c.fakeFS.Mount(source, target, fstype, flags, data)
}

// FuzzSpecMount: a hostile spec mount (any type, source, destination and
// options) never panics, mounts nothing outside the rootfs and is refused
// with an errdefs kind or a syscall error; its options parse into flags,
// propagation and data that lose no option. Nothing is mounted: the
// system calls are the recording fake.
func FuzzSpecMount(f *testing.F) {
	for _, m := range [][4]string{
		{"bind", "/host/data", "/data", "rbind\x00ro\x00rro\x00rprivate"},
		{"tmpfs", "tmpfs", "/../../../etc", "nosuid\x00mode=755\x00size=65536k"},
		{"proc", "proc", "/proc", "nosuid\x00noexec\x00nodev"},
		{"cgroup", "cgroup", "/sys/fs/cgroup", "ro\x00nosuid"},
		{"sysfs", "sysfs", "/sys", "ro"},
		{"none", "/host/file", "relative/path", "bind\x00remount\x00shared"},
		{"mqueue", "mqueue", "/dev/mqueue", "defaults\x00nosymfollow\x00idmap"},
	} {
		f.Add(m[0], m[1], m[2], m[3])
	}
	// One root for every input: the fake creates nothing in it.
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, typ, source, dest, list string) {
		opts := strings.Split(list, "\x00")
		p := ParseMountOptions(opts)
		var data []string
		for _, o := range opts {
			_, flag := mountFlags[o]
			_, prop := propagationFlags[o]
			// rro, idmap and ridmap are taken by the parser (the id
			// mapping is made outside); the rest is data.
			if !flag && !prop && o != "rro" && o != "idmap" && o != "ridmap" {
				data = append(data, o)
			}
		}
		if p.Data != strings.Join(data, ",") {
			t.Fatalf("%q: data %q", opts, p.Data)
		}
		if p.Flags&^knownFlags() != 0 {
			t.Fatalf("%q: unknown flags %#x", opts, p.Flags)
		}

		fs := confinedFS{fakeFS: newFake(), t: t, root: root}
		fs.hs = []Hierarchy{{Name: "memory", Type: "cgroup", Options: "memory", Mountpoint: "/sys/fs/cgroup/memory", Root: "/", Path: "/c"}}
		m := specs.Mount{Type: typ, Source: source, Destination: dest, Options: opts}
		err := mountOne(fs, root, m, "", false, -1) // no detached tree: the spec mount path
		var errno unix.Errno
		// The fake's missing path is os.ErrNotExist, the real one ENOENT.
		if err != nil && !errors.As(err, &errno) && !errors.Is(err, os.ErrNotExist) && errors.Is(errdefs.Resolve(err), errdefs.ErrUnknown) {
			t.Fatalf("%+v: %v (%T): neither an errdefs kind nor a system call's error", m, err, err)
		}
	})
}

// knownFlags are all the flags an option can set.
func knownFlags() uintptr {
	var all uintptr
	for _, f := range mountFlags {
		all |= f.flag
	}
	return all
}

// FuzzCgroupMountinfo: no mountinfo line panics the parser, and what it
// accepts is a cgroup mount under /sys/fs/cgroup.
func FuzzCgroupMountinfo(f *testing.F) {
	f.Add("35 25 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:13 - cgroup cgroup rw,memory")
	f.Add("30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate")
	f.Add(" -  - ")
	f.Fuzz(func(t *testing.T, line string) {
		h, ok := parseCgroupMountinfo(line)
		if ok && (!strings.HasPrefix(h.Mountpoint, "/sys/fs/cgroup") || (h.Type != "cgroup" && h.Type != "cgroup2")) {
			t.Fatalf("%q: %+v", line, h)
		}
	})
}
