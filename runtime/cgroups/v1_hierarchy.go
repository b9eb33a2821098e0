package cgroups

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// hierarchy is one mounted cgroup v1 hierarchy.
type hierarchy struct {
	mountpoint string
	// controllers are those bound to the hierarchy ("cpu", "cpuacct"),
	// or its name ("name=systemd") for a hierarchy without any.
	controllers []string
}

func (h hierarchy) has(controller string) bool {
	return slices.Contains(h.controllers, controller)
}

// v1Hierarchies lists the hierarchies mounted in this mount namespace: one
// entry per hierarchy, however often it is mounted, named ones included
// because a container must join those too. The library instead looked for
// a fixed list of names under the parent of the first cgroup mount, which
// missed named hierarchies other than systemd and hierarchies mounted
// elsewhere.
func v1Hierarchies() ([]hierarchy, error) {
	// /proc/self/cgroup names each hierarchy's controllers (and name=)
	// exactly; the mount options also hold flags such as "rw" or
	// "clone_children".
	known, err := v1Controllers("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	userNS := inUserNS()
	var out []hierarchy
	var atRoot []bool
	index := map[string]int{}
	for _, m := range mounts {
		var ctls []string
		for _, opt := range strings.Split(m.VFSOptions, ",") {
			if known[opt] {
				ctls = append(ctls, opt)
			}
		}
		// The library leaves devices out in a user namespace, where
		// its rules cannot be written.
		if len(ctls) == 0 || (userNS && slices.Contains(ctls, "devices")) {
			continue
		}
		h := hierarchy{mountpoint: m.Mountpoint, controllers: ctls}
		key := strings.Join(ctls, ",")
		i, seen := index[key]
		switch {
		case !seen:
			index[key] = len(out)
			out = append(out, h)
			atRoot = append(atRoot, m.Root == "/")
		case !atRoot[i] && m.Root == "/":
			// A mount of the hierarchy's root rather than a bind
			// mount of one of its cgroups.
			out[i] = h
			atRoot[i] = true
		}
	}
	return out, nil
}

// v1Controllers reads the v1 controller and hierarchy names from a
// /proc/<pid>/cgroup file ("4:cpu,cpuacct:/path", "1:name=systemd:/").
func v1Controllers(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	known := map[string]bool{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("%s: bad line %q", path, s.Text())
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c != "" {
				known[c] = true
			}
		}
	}
	return known, s.Err()
}

// inUserNS reports whether this process is in a user namespace other than
// the initial one, whose uid map is the identity over the whole range.
func inUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}
