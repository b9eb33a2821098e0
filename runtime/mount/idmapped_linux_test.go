package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseIDMapOptions(t *testing.T) {
	o, err := parseOptions([]string{"rbind", "uidmap=0:100000:65536", "gidmap=0:200000:10,10:300000:5"})
	if err != nil {
		t.Fatal(err)
	}
	want := idMapping{
		uid: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
		gid: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 10}, {ContainerID: 10, HostID: 300000, Size: 5}},
	}
	if fmt.Sprint(o.idmap) != fmt.Sprint(want) || len(o.data) != 0 {
		t.Errorf("parsed %+v data %q, want %+v and no data", o.idmap, o.data, want)
	}
	for _, bad := range [][]string{
		{"uidmap=0:1:2:3"}, {"uidmap=a:1:2"}, {"gidmap=0:1:0"}, {"uidmap=0:1:1", "uidmap=0:2:1"}, {"uidmap="},
	} {
		if _, err := parseOptions(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v, want InvalidArgument", bad, err)
		}
	}
}

// One axis alone, or a mount type that cannot be id-mapped, fails before
// anything is mounted.
func TestIDMapRefusedUpFront(t *testing.T) {
	target := t.TempDir()
	for _, tc := range []struct {
		m    Mount
		kind error
	}{
		{Mount{Type: "overlay", Source: "overlay", Options: []string{"uidmap=0:1000:1", "lowerdir=/a:/b"}}, errdefs.ErrInvalidArgument},
		{Mount{Type: "ext4", Source: "/img", Options: []string{"uidmap=0:1000:1", "gidmap=0:1000:1"}}, errdefs.ErrNotImplemented},
	} {
		err := All([]Mount{tc.m}, target)
		if !errors.Is(err, tc.kind) {
			t.Errorf("%v: %v, want %v", tc.m.Options, err, tc.kind)
		}
	}
}

func owner(p string) (uint32, uint32, error) {
	var st unix.Stat_t
	err := unix.Lstat(p, &st)
	return st.Uid, st.Gid, err
}

// An overlay whose lowers are the image's (root's) shows them as the
// mapped host root's; what is written lands in the upper directory as the
// writer's host id; nothing is left mounted or created next to the root.
func TestIDMappedOverlay(t *testing.T) {
	withScratch(t, 0, func(dir string) error {
		if err := files(dir, map[string]string{
			"layers/1/fs/a": "1", "layers/2/fs/b": "2",
			"upper/": "", "work/": "", "bundle/rootfs/": "",
		}); err != nil {
			return err
		}
		rootfs := filepath.Join(dir, "bundle/rootfs")
		m := overlayMount(dir, []string{filepath.Join(dir, "layers/2/fs"), filepath.Join(dir, "layers/1/fs")})
		m.Options = append(m.Options, "uidmap=0:100000:65536", "gidmap=0:200000:65536")
		if err := All([]Mount{m}, rootfs); err != nil {
			return err
		}
		defer unix.Unmount(rootfs, unix.MNT_DETACH)
		for _, name := range []string{"a", "b"} {
			uid, gid, err := owner(filepath.Join(rootfs, name))
			if err != nil {
				return err
			}
			if uid != 100000 || gid != 200000 {
				return fmt.Errorf("%s owned by %d:%d through the overlay, want 100000:200000", name, uid, gid)
			}
		}
		if uid, _, _ := owner(filepath.Join(dir, "layers/1/fs/a")); uid != 0 {
			return fmt.Errorf("the layer itself changed owner: %d", uid)
		}
		if err := os.WriteFile(filepath.Join(rootfs, "a"), []byte("changed"), 0o644); err != nil {
			return err
		}
		if err := expectFile(filepath.Join(dir, "layers/1/fs/a"), "1"); err != nil {
			return err
		}
		ents, err := os.ReadDir(filepath.Join(dir, "bundle"))
		if err != nil {
			return err
		}
		if len(ents) != 1 {
			return fmt.Errorf("left next to the rootfs: %v", ents)
		}
		b, err := os.ReadFile("/proc/thread-self/mountinfo")
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 4 && strings.Contains(f[4], ".idmapped-layers-") {
				return fmt.Errorf("id-mapped layers still mounted: %s", l)
			}
		}
		return nil
	})
}

// A bind with uidmap= is the source id-mapped as a whole.
func TestIDMappedBind(t *testing.T) {
	withScratch(t, 0, func(dir string) error {
		if err := files(dir, map[string]string{"src/f": "x", "rootfs/": ""}); err != nil {
			return err
		}
		if err := os.Lchown(filepath.Join(dir, "src/f"), 1000, 1000); err != nil {
			return err
		}
		rootfs := filepath.Join(dir, "rootfs")
		if err := All([]Mount{{Type: "bind", Source: filepath.Join(dir, "src"), Options: []string{"rbind", "ro", "uidmap=1000:5000:1", "gidmap=1000:6000:1"}}}, rootfs); err != nil {
			return err
		}
		defer unix.Unmount(rootfs, unix.MNT_DETACH)
		uid, gid, err := owner(filepath.Join(rootfs, "f"))
		if err != nil {
			return err
		}
		if uid != 5000 || gid != 6000 {
			return fmt.Errorf("f owned by %d:%d through the bind, want 5000:6000", uid, gid)
		}
		if err := os.WriteFile(filepath.Join(rootfs, "new"), nil, 0o644); !errors.Is(err, unix.EROFS) {
			return fmt.Errorf("write to the ro id-mapped bind: %v, want EROFS", err)
		}
		return nil
	})
}
