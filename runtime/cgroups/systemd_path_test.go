package cgroups

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestParseSystemdPath(t *testing.T) {
	for _, tc := range []struct {
		path, slice, unit, dir string
	}{
		// The kubelet's, with the systemd cgroup driver.
		{"kubepods-besteffort-pod12.slice:cri-containerd:abc", "kubepods-besteffort-pod12.slice", "cri-containerd-abc.scope",
			"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope"},
		{"kubepods.slice:cri-containerd:abc", "kubepods.slice", "cri-containerd-abc.scope", "/kubepods.slice/cri-containerd-abc.scope"},
		{"system.slice:docker:1234", "system.slice", "docker-1234.scope", "/system.slice/docker-1234.scope"},
		// An empty slice is system.slice.
		{":raind:c1", "system.slice", "raind-c1.scope", "/system.slice/raind-c1.scope"},
		// An empty prefix, as runc joins it.
		{"system.slice::c1", "system.slice", "-c1.scope", "/system.slice/-c1.scope"},
		// The root slice.
		{"-.slice:p:n", "-.slice", "p-n.scope", "/p-n.scope"},
		// A name that is a slice is that slice unit, placed by its name.
		{"machine.slice:ignored:machine-c1.slice", "machine.slice", "machine-c1.slice", "/machine.slice/machine-c1.slice"},
		{"-.slice::top.slice", "-.slice", "top.slice", "/top.slice"},
		{"a-b.slice:x:a-b-c.slice", "a-b.slice", "a-b-c.slice", "/a.slice/a-b.slice/a-b-c.slice"},
		// Escapes and dots are unit name characters.
		{"system.slice:p:a\\x2db.c_d", "system.slice", "p-a\\x2db.c_d.scope", "/system.slice/p-a\\x2db.c_d.scope"},
	} {
		u, err := parseSystemdPath(tc.path)
		if err != nil {
			t.Errorf("%q: %v", tc.path, err)
			continue
		}
		if u.slice != tc.slice || u.unit != tc.unit || u.dir != tc.dir {
			t.Errorf("%q: got slice %q unit %q dir %q, want %q %q %q", tc.path, u.slice, u.unit, u.dir, tc.slice, tc.unit, tc.dir)
		}
		if u.isSlice() != strings.HasSuffix(tc.unit, ".slice") {
			t.Errorf("%q: isSlice %v", tc.path, u.isSlice())
		}
	}
}

func TestParseSystemdPathInvalid(t *testing.T) {
	for _, p := range []string{
		"a:b",                   // two parts
		"a:b:c:d",               // four
		"system.slice:p:",       // no name
		"system:p:n",            // slice without .slice
		".slice:p:n",            // empty slice name
		"a--b.slice:p:n",        // empty component
		"-a.slice:p:n",          // leading dash
		"a-.slice:p:n",          // trailing dash
		"a/b.slice:p:n",         // a slash in the slice
		"system.slice:p:a/b",    // a slash in the name
		"system.slice:p/q:n",    // a slash in the prefix
		"system.slice:p:../x",   // traversal
		"system.slice:p:n m",    // a space
		"system.slice:p:né",     // not ASCII
		"system.slice:p:a\x00b", // NUL
		"system.slice:p:" + strings.Repeat("x", 250), // longer than 255 with prefix and .scope
		"system.slice:p:other-c1.slice",              // a slice that is not the given slice's child
		"machine.slice:p:machine.slice",              // the slice itself
		"-.slice:p:-.slice",                          // the root slice as the unit
		"a-b.slice:p:a-c-d.slice",                    // a grandchild of a sibling
	} {
		_, err := parseSystemdPath(p)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), strconv.Quote(p)) {
			t.Errorf("%q: %v, want InvalidArgument naming the path", p, err)
		}
	}
}

func TestExpandSlice(t *testing.T) {
	for in, want := range map[string]string{
		"-.slice":                     "/",
		"system.slice":                "/system.slice",
		"a-b.slice":                   "/a.slice/a-b.slice",
		"user-1000.slice":             "/user.slice/user-1000.slice",
		"kubepods-burstable-p.slice":  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-p.slice",
		"x\\x2dy.slice":               "/x\\x2dy.slice",
		"a.b-c.slice":                 "/a.b.slice/a.b-c.slice",
		"kubepods-pod1_2_3_4.slice":   "/kubepods.slice/kubepods-pod1_2_3_4.slice",
		"machine-qemu\\x2d1-x1.slice": "/machine.slice/machine-qemu\\x2d1.slice/machine-qemu\\x2d1-x1.slice",
	} {
		got, err := expandSlice(in)
		if err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".slice", "slice", "a.scope", "a--b.slice", "-a.slice", "a-.slice", "a/b.slice", "--.slice"} {
		if got, err := expandSlice(in); err == nil {
			t.Errorf("%q: %q, want an error", in, got)
		}
	}
}

func TestIsSystemdPath(t *testing.T) {
	for p, want := range map[string]bool{
		"system.slice:p:n": true, ":p:n": true, "a:b": true,
		"/raind/c1": false, "kubepods.slice": false, "": false,
	} {
		if IsSystemdPath(p) != want {
			t.Errorf("%q: %v", p, !want)
		}
	}
}
