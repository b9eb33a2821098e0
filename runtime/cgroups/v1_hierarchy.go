package cgroups

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/moby/sys/mountinfo"
)

// pather is what every cgroup1 subsystem with a directory implements (the
// library's own interface is unexported).
type pather interface {
	cgroup1.Subsystem
	Path(path string) string
}

// v1Subsystems lists the v1 hierarchies mounted in this mount namespace as
// the library's subsystems. cgroup1.Default finds the controllers and the
// name=systemd hierarchy under the parent of the first cgroup mount; other
// named hierarchies mounted there are added, because a container must join
// those too and the library does not know them.
func v1Subsystems() ([]cgroup1.Subsystem, error) {
	subs, err := cgroup1.Default()
	if err != nil {
		return nil, fmt.Errorf("find v1 hierarchies: %w", err)
	}
	var root string
	for _, s := range subs {
		if p, ok := s.(pather); ok {
			root = filepath.Dir(p.Path("/"))
			break
		}
	}
	if root == "" {
		return subs, nil
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	for _, name := range namedHierarchies(mounts, root) {
		if !slices.ContainsFunc(subs, func(s cgroup1.Subsystem) bool { return s.Name() == cgroup1.Name(name) }) {
			subs = append(subs, cgroup1.NewNamed(root, cgroup1.Name(name)))
		}
	}
	return subs, nil
}

// namedHierarchies names the hierarchies without controllers
// ("name=foo") mounted at root/foo.
func namedHierarchies(mounts []*mountinfo.Info, root string) []string {
	var out []string
	for _, m := range mounts {
		for _, opt := range strings.Split(m.VFSOptions, ",") {
			name, ok := strings.CutPrefix(opt, "name=")
			if ok && name != "" && m.Root == "/" && m.Mountpoint == filepath.Join(root, name) && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}
