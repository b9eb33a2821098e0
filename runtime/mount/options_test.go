//go:build linux

package mount

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		opts  []string
		flags uintptr
		prop  []uintptr
		data  []string
	}{
		{opts: nil},
		{opts: []string{"defaults"}},
		{opts: []string{"ro"}, flags: unix.MS_RDONLY},
		{opts: []string{"ro", "rw"}},
		{opts: []string{"rw", "ro"}, flags: unix.MS_RDONLY},
		{opts: []string{"nosuid", "nodev", "noexec"}, flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{opts: []string{"nosuid", "nodev", "noexec", "suid", "dev", "exec"}},
		{opts: []string{"sync", "dirsync"}, flags: unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC},
		{opts: []string{"sync", "async"}},
		{opts: []string{"mand"}, flags: unix.MS_MANDLOCK},
		{opts: []string{"mand", "nomand"}},
		{opts: []string{"noatime", "nodiratime"}, flags: unix.MS_NOATIME | unix.MS_NODIRATIME},
		{opts: []string{"noatime", "atime", "nodiratime", "diratime"}},
		{opts: []string{"relatime"}, flags: unix.MS_RELATIME},
		{opts: []string{"relatime", "norelatime"}},
		{opts: []string{"strictatime"}, flags: unix.MS_STRICTATIME},
		{opts: []string{"strictatime", "nostrictatime"}},
		{opts: []string{"nosymfollow"}, flags: unix.MS_NOSYMFOLLOW},
		{opts: []string{"remount", "ro"}, flags: unix.MS_REMOUNT | unix.MS_RDONLY},
		{opts: []string{"bind"}, flags: unix.MS_BIND},
		{opts: []string{"rbind", "ro"}, flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY},
		{opts: []string{"rbind", "rw", "nosuid"}, flags: unix.MS_BIND | unix.MS_REC | unix.MS_NOSUID},
		// rbind's MS_REC must not make a later "private" recursive.
		{opts: []string{"rbind", "private"}, flags: unix.MS_BIND | unix.MS_REC, prop: []uintptr{unix.MS_PRIVATE}},
		{
			opts: []string{"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"},
			prop: []uintptr{
				unix.MS_PRIVATE, unix.MS_PRIVATE | unix.MS_REC, unix.MS_SHARED, unix.MS_SHARED | unix.MS_REC,
				unix.MS_SLAVE, unix.MS_SLAVE | unix.MS_REC, unix.MS_UNBINDABLE, unix.MS_UNBINDABLE | unix.MS_REC,
			},
		},
		{
			opts: []string{"index=off", "workdir=/w", "upperdir=/u", "lowerdir=/a:/b"},
			data: []string{"index=off", "workdir=/w", "upperdir=/u", "lowerdir=/a:/b"},
		},
		{
			opts:  []string{"ro", "size=64k", "nosuid", "mode=755", "rslave"},
			flags: unix.MS_RDONLY | unix.MS_NOSUID,
			prop:  []uintptr{unix.MS_SLAVE | unix.MS_REC},
			data:  []string{"size=64k", "mode=755"},
		},
		// One element is one option: commas inside are the filesystem's.
		{opts: []string{"ro,nosuid"}, data: []string{"ro,nosuid"}},
		{opts: []string{"direct-io", "context=\"system_u:object_r:x:s0:c1,c2\""}, data: []string{"direct-io", "context=\"system_u:object_r:x:s0:c1,c2\""}},
		{opts: []string{"", "RO"}, data: []string{"", "RO"}},
	} {
		t.Run(strings.Join(tc.opts, ","), func(t *testing.T) {
			o, err := parseOptions(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if o.flags != tc.flags {
				t.Errorf("flags %#x, want %#x", o.flags, tc.flags)
			}
			if !reflect.DeepEqual(o.propagation, tc.prop) {
				t.Errorf("propagation %#x, want %#x", o.propagation, tc.prop)
			}
			if !reflect.DeepEqual(o.data, tc.data) {
				t.Errorf("data %q, want %q", o.data, tc.data)
			}
		})
	}
}

// TestRefused needs no root: refusal comes before any mount call, which is
// also what keeps a list with one unsupported mount from mounting the
// others. As root it runs in a private namespace in case that regresses.
func TestRefused(t *testing.T) {
	target := t.TempDir()
	ok := Mount{Type: "tmpfs", Source: "tmpfs"}
	for _, tc := range []struct {
		m    Mount
		name string // what the error must name
	}{
		{Mount{Type: "ext4", Source: "/img", Options: []string{"loop"}}, `"loop"`},
		{Mount{Type: "erofs", Source: "/img", Options: []string{"ro", "loop", "direct-io"}}, `"loop"`},
		{Mount{Type: "overlay", Source: "overlay", Options: []string{"X-containerd.mkdir.path=/x/upper:0755"}}, `"X-containerd.mkdir.path=/x/upper:0755"`},
		{Mount{Type: "ext4", Source: "/img", Options: []string{"X-containerd.mkfs.fs=ext4"}}, `"X-containerd.mkfs.fs=ext4"`},
		{Mount{Type: "format/overlay", Source: "overlay", Options: []string{"lowerdir={{ mount 0 }}"}}, `"format/overlay"`},
		{Mount{Type: "format/mkdir/overlay", Source: "overlay"}, `(format/)`},
		{Mount{Type: "mkfs/ext4", Source: "/img"}, `"mkfs/ext4"`},
		{Mount{Type: "mkdir/bind", Source: "/x"}, `"mkdir/bind"`},
		{Mount{Type: "fuse.sshfs", Source: "host:/"}, `"fuse.sshfs"`},
		{Mount{Type: "fuse3.fuse-overlayfs", Source: "overlay"}, `"fuse3.fuse-overlayfs"`},
	} {
		t.Run(tc.m.Type+","+strings.Join(tc.m.Options, ","), func(t *testing.T) {
			var err error
			run := func() error { err = All([]Mount{ok, tc.m}, target); return nil }
			if os.Getuid() == 0 {
				if e := inPrivateMountNS(run); e != nil {
					t.Fatal(e)
				}
			} else {
				_ = run()
			}
			if !errors.Is(err, errdefs.ErrNotImplemented) {
				t.Fatalf("err = %v, want ErrNotImplemented", err)
			}
			if !strings.Contains(err.Error(), tc.name) {
				t.Errorf("error %q does not name %s", err, tc.name)
			}
		})
	}
}

func TestSplitOverlayData(t *testing.T) {
	for data, want := range map[string][]string{
		"":                            nil,
		"a":                           {"a"},
		"a,b":                         {"a", "b"},
		",a,,b,":                      {"a", "b"},
		`lowerdir=/x\,y:/z,index=off`: {`lowerdir=/x\,y:/z`, "index=off"},
		`a\\,b`:                       {`a\\`, "b"},
		`a\`:                          {`a\`},
	} {
		if got := splitOverlayData(data); !reflect.DeepEqual(got, want) {
			t.Errorf("splitOverlayData(%q) = %q, want %q", data, got, want)
		}
	}
}

func TestSplitLowerdir(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []layer
		bad  bool
	}{
		{in: "", want: nil},
		{in: "/a", want: []layer{{"/a", false}}},
		{in: "/a:/b:/c", want: []layer{{"/a", false}, {"/b", false}, {"/c", false}}},
		{in: "/a:/b::/d1::/d2", want: []layer{{"/a", false}, {"/b", false}, {"/d1", true}, {"/d2", true}}},
		{in: `/a\:b:/c\,d:/e\\f`, want: []layer{{"/a:b", false}, {"/c,d", false}, {`/e\f`, false}}},
		{in: `/a\`, want: []layer{{"/a", false}}},
		{in: ":/a", bad: true},
		{in: "::/a", bad: true},
		{in: "/a:", bad: true},
		{in: "/a::", bad: true},
		{in: "/a:::/b", bad: true},
		{in: "/a::/d:/b", bad: true},
	} {
		got, err := splitLowerdir(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("splitLowerdir(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitLowerdir(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if back := joinLayers(got); len(got) > 0 && back != strings.TrimSuffix(tc.in, `\`) {
			t.Errorf("joinLayers(%v) = %q, want %q", got, back, tc.in)
		}
	}
}

func TestRelativeLayers(t *testing.T) {
	const s = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots"
	for _, tc := range []struct {
		in   []layer
		dir  string
		want []layer
		bad  bool
	}{
		{
			in:   []layer{{s + "/12/fs", false}, {s + "/1/fs", false}, {s + "/3/fs", true}},
			dir:  s,
			want: []layer{{"12/fs", false}, {"1/fs", false}, {"3/fs", true}},
		},
		{in: []layer{{"/x//a/./b", false}, {"/x/a/c/", false}}, dir: "/x/a", want: []layer{{"b", false}, {"c", false}}},
		{in: []layer{{"/x/a", false}, {"/x/a/b", false}}, dir: "/x", want: []layer{{"a", false}, {"a/b", false}}},
		{in: []layer{{"/x/a/..", false}, {"/x/a/b", false}}, dir: "/x/a", want: []layer{{"..", false}, {"b", false}}},
		{in: []layer{{"/x/a", false}}, dir: "/x", want: []layer{{"a", false}}},
		{in: []layer{{"/x/a", false}, {"/y/b", false}}, bad: true},
		{in: []layer{{"/a", false}}, bad: true},
		{in: []layer{{"/", false}}, bad: true},
		{in: []layer{{"/x/a", false}, {"x/b", false}}, bad: true},
		{in: nil, bad: true},
	} {
		dir, rel, err := relativeLayers(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("relativeLayers(%v) = %q %v, want an error", tc.in, dir, rel)
			}
			continue
		}
		if err != nil || dir != tc.dir || !reflect.DeepEqual(rel, tc.want) {
			t.Errorf("relativeLayers(%v) = %q %v %v; want %q %v", tc.in, dir, rel, err, tc.dir, tc.want)
		}
	}
}

func TestReleaseAtLeast(t *testing.T) {
	for release, want := range map[string]bool{
		"6.18.44-fc-v782":   true,
		"6.8.0-31-generic":  true,
		"6.8":               true,
		"6.10-rc1":          true,
		"7.0.0":             true,
		"6.7.12":            false,
		"6.1.0-28-amd64":    false,
		"5.15.0-91-generic": false,
		"6":                 false,
		"6.":                false,
		"":                  false,
		"x.y":               false,
	} {
		if got := releaseAtLeast(release, 6, 8); got != want {
			t.Errorf("releaseAtLeast(%q, 6, 8) = %v, want %v", release, got, want)
		}
	}
}

func TestMountAttrs(t *testing.T) {
	for _, tc := range []struct {
		flags uintptr
		want  int
	}{
		{0, 0},
		{unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NOATIME | unix.MS_NODIRATIME, unix.MOUNT_ATTR_NOATIME | unix.MOUNT_ATTR_NODIRATIME},
		{unix.MS_NOATIME | unix.MS_STRICTATIME, unix.MOUNT_ATTR_STRICTATIME},
		{unix.MS_RELATIME | unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_NOSYMFOLLOW},
	} {
		if got := mountAttrs(tc.flags); got != tc.want {
			t.Errorf("mountAttrs(%#x) = %#x, want %#x", tc.flags, got, tc.want)
		}
	}
}

// FuzzOverlayOptions checks that no data string panics the parsers and that
// what splitLowerdir accepts survives joinLayers unchanged.
func FuzzOverlayOptions(f *testing.F) {
	for _, s := range []string{"lowerdir=/a:/b::/c", `lowerdir=/a\:b:/c\,d`, "a,,b\\", ":::", `\`, "lowerdir=::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		for _, o := range splitOverlayData(data) {
			_, v, _ := strings.Cut(o, "=")
			layers, err := splitLowerdir(v)
			if err != nil {
				continue
			}
			again, err := splitLowerdir(joinLayers(layers))
			if err != nil || !reflect.DeepEqual(again, layers) {
				t.Fatalf("%q: %v, rejoined %v, %v", v, layers, again, err)
			}
			_, _, _ = relativeLayers(layers)
		}
		_, _ = parseOptions(strings.Split(data, ","))
		_ = refusedType(data)
	})
}
