package rootfs

import (
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// treeFS is a fakeFS that can attach mount trees.
type treeFS struct{ *fakeFS }

func (f treeFS) MoveTree(fd int, target string) error { return f.rec("move %d %s", fd, target) }
func (f treeFS) TreeIsDir(fd int) (bool, error)       { return fd != 8, f.rec("fstat %d", fd) }

// An id-mapped bind is its tree moved onto the destination, not a bind of
// its source; its other options still apply; idmap never reaches mount(2);
// the tree is closed.
func TestMountFDsMoved(t *testing.T) {
	f := treeFS{newFake()}
	root := t.TempDir()
	spec := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/plain", Type: "bind", Source: "/host/data", Options: []string{"rbind"}},
		{Destination: "/mapped", Type: "bind", Source: "/host/data", Options: []string{"rbind", "ro", "ridmap"}},
		// A source this process cannot stat: the tree says it is a file.
		{Destination: "/etc/hosts", Type: "bind", Source: "/closed/hosts", Options: []string{"bind"}},
	}}
	if err := Setup(f, spec, root, Options{MountFDs: map[int]int{1: 7, 2: 8}}); err != nil {
		t.Fatal(err)
	}
	f.has(t, fmt.Sprintf("touch %s/etc/hosts", root))
	f.has(t, fmt.Sprintf("move 8 %s/etc/hosts", root))
	f.has(t, fmt.Sprintf("mount /host/data %s/plain  %#x ", root, unix.MS_BIND|unix.MS_REC))
	move := f.has(t, fmt.Sprintf("move 7 %s/mapped", root))
	remount := f.has(t, fmt.Sprintf("mount  %s/mapped  %#x ", root, unix.MS_RDONLY|unix.MS_BIND|unix.MS_REMOUNT))
	closed := f.has(t, "close 7")
	if !(move < remount && remount < closed) {
		t.Errorf("want move, remount read-only, close in that order:\n%s", strings.Join(f.calls, "\n"))
	}
	for _, c := range f.calls {
		if strings.Contains(c, "/host/data "+root+"/mapped") || strings.Contains(c, "idmap") {
			t.Errorf("the id-mapped mount reached mount(2): %s", c)
		}
	}
}

// A syscall layer that cannot attach trees refuses rather than bind the
// source unmapped; so does a tree for a mount that is no bind. Trees are
// closed on failure too.
func TestMountFDsRefused(t *testing.T) {
	spec := &specs.Spec{Mounts: []specs.Mount{{Destination: "/mapped", Type: "bind", Source: "/host/data", Options: []string{"bind"}}}}
	f := newFake()
	if err := Setup(f, spec, t.TempDir(), Options{MountFDs: map[int]int{0: 7}}); err == nil || !strings.Contains(err.Error(), "/mapped") {
		t.Errorf("no TreeMover: %v, want an error naming /mapped", err)
	}
	f.has(t, "close 7")
	spec.Mounts[0] = specs.Mount{Destination: "/t", Type: "tmpfs", Source: "tmpfs"}
	if err := Setup(treeFS{newFake()}, spec, t.TempDir(), Options{MountFDs: map[int]int{0: 7}}); err == nil {
		t.Error("a tree for a tmpfs was accepted")
	}
}

func TestIDMapOptionsNotData(t *testing.T) {
	if p := ParseMountOptions([]string{"rbind", "idmap", "ridmap", "x=y"}); p.Data != "x=y" {
		t.Errorf("data %q, want x=y", p.Data)
	}
}
