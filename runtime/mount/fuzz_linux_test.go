//go:build linux

package mount

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// FuzzMountOptions: the options and type of a rootfs mount, as containerd
// sends them in Create, never panic the parser; a refusal is an errdefs
// kind naming the option; what is accepted is sorted into exactly one of
// flags, propagation, rro and data.
func FuzzMountOptions(f *testing.F) {
	for _, s := range [][2]string{
		{"overlay", "lowerdir=/a:/b,upperdir=/u,workdir=/w\x00ro\x00index=off"},
		{"bind", "rbind\x00rro\x00rprivate\x00nosuid\x00nosymfollow"},
		{"ext4", "loop\x00defaults"},
		{"format/mkfs/ext4", "X-containerd.mkfs.fs=ext4"},
		{"fuse.sshfs", "uidmap=0:1000:1\x00gidmap=0:1000:1"},
		{"tmpfs", "remount\x00shared\x00unbindable\x00mode=755,size=1m\x00"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, typ, list string) {
		opts := strings.Split(list, "\x00")
		if err := refusedType(typ); err != nil {
			checkKind(t, "refusedType", err)
		}
		o, err := parseOptions(opts)
		if err != nil {
			checkKind(t, "parseOptions", err)
			if !strings.Contains(err.Error(), "option ") {
				t.Fatalf("refusal does not name the option: %v", err)
			}
			return
		}
		data := 0
		for _, s := range opts {
			// uidmap= and gidmap= are the snapshot's id mapping, not
			// data (idmapped_linux.go).
			if strings.HasPrefix(s, "uidmap=") || strings.HasPrefix(s, "gidmap=") {
				continue
			}
			_, _, flag := flagOption(s)
			_, prop := propagationOption(s)
			if !flag && !prop && s != "rro" {
				if o.data[data] != s {
					t.Fatalf("data %q at %d, want %q", o.data[data], data, s)
				}
				data++
			}
		}
		if data != len(o.data) {
			t.Fatalf("%q: data %q", opts, o.data)
		}
	})
}

// checkKind fails t unless err carries an errdefs kind.
func checkKind(t *testing.T, what string, err error) {
	t.Helper()
	if errors.Is(errdefs.Resolve(err), errdefs.ErrUnknown) {
		t.Fatalf("%s: %v (%T): not an errdefs kind", what, err, err)
	}
}
