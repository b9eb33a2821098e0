package runtime

import (
	"os"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func idmapBase() *specs.Spec {
	s := allowlistBase()
	s.Mounts[1] = specs.Mount{Destination: "/data", Type: "bind", Source: "/tmp", Options: []string{"rbind", "idmap"},
		UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}}
	return s
}

func withUserNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace}, specs.LinuxNamespace{Type: specs.PIDNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	s.Linux.GIDMappings = s.Linux.UIDMappings
}

func TestIDMapMountsAccepted(t *testing.T) {
	for name, set := range map[string]func(*specs.Spec){
		"mappings without a user namespace": func(*specs.Spec) {},
		"mappings with one":                 withUserNS,
		"one user's files, 0 unmapped": func(s *specs.Spec) {
			m := []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 0, Size: 1}}
			s.Mounts[1].UIDMappings, s.Mounts[1].GIDMappings = m, m
		},
		"mappings without the option": func(s *specs.Spec) { s.Mounts[1].Options = []string{"bind"} },
		"idmap taking the container's": func(s *specs.Spec) {
			withUserNS(s)
			s.Mounts[1].UIDMappings, s.Mounts[1].GIDMappings = nil, nil
		},
		"ridmap, type none": func(s *specs.Spec) {
			withUserNS(s)
			s.Mounts[1].Type, s.Mounts[1].Options = "none", []string{"rbind", "ridmap"}
			s.Mounts[1].UIDMappings, s.Mounts[1].GIDMappings = nil, nil
		},
	} {
		s := idmapBase()
		set(s)
		if _, err := NewConfig(s); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestIDMapMountsRefused(t *testing.T) {
	for name, c := range map[string]struct {
		set  func(*specs.Spec)
		want string
	}{
		"not a bind": {func(s *specs.Spec) { s.Mounts[1].Type, s.Mounts[1].Options = "tmpfs", nil }, "only bind mounts"},
		"uid only":   {func(s *specs.Spec) { s.Mounts[1].GIDMappings = nil }, "go together"},
		"gid only":   {func(s *specs.Spec) { s.Mounts[1].UIDMappings = nil }, "go together"},
		"idmap without any user namespace": {func(s *specs.Spec) {
			s.Mounts[1].UIDMappings, s.Mounts[1].GIDMappings = nil, nil
		}, "needs the container's user namespace"},
		"empty range": {func(s *specs.Spec) {
			s.Mounts[1].UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1, Size: 0}}
		}, "mounts[1].uidMappings"},
		"too far": {func(s *specs.Spec) {
			s.Mounts[1].UIDMappings = []specs.LinuxIDMapping{{ContainerID: 1 << 31, HostID: 1, Size: 1 << 31}}
		}, "past the last id"},
		"overlapping ranges": {func(s *specs.Spec) {
			s.Mounts[1].GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}, {ContainerID: 5, HostID: 5000, Size: 10}}
		}, "mounts[1].gidMappings"},
	} {
		s := idmapBase()
		c.set(s)
		_, err := NewConfig(s)
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "/data") && !strings.Contains(err.Error(), "mounts[1]") {
			t.Errorf("%s: %v, want InvalidArgument naming the mount and %q", name, err, c.want)
		}
	}
}

// The child finds each tree at the fd initConfig.MountFDs names: after
// the files it already gets, in the order they are passed.
func TestAppendMountTrees(t *testing.T) {
	var cfg initConfig
	base := []*os.File{os.Stdin, os.Stdout}
	if got := appendMountTrees(base, nil, &cfg); len(got) != 2 || cfg.MountFDs != nil {
		t.Fatalf("no trees: %d files, MountFDs %v", len(got), cfg.MountFDs)
	}
	a, b := os.NewFile(100, "a"), os.NewFile(101, "b")
	got := appendMountTrees(base, map[int]*os.File{2: a, 5: b}, &cfg)
	if len(got) != 4 || len(cfg.MountFDs) != 2 {
		t.Fatalf("%d files, MountFDs %v", len(got), cfg.MountFDs)
	}
	for i, f := range map[int]*os.File{2: a, 5: b} {
		fd := cfg.MountFDs[i]
		if fd < 5 || got[fd-3] != f {
			t.Errorf("mount %d: child fd %d does not hold its tree", i, fd)
		}
	}
}
