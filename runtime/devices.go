package runtime

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// alwaysAllowed are the device cgroup rules every container gets on top of
// its spec: the nodes raind itself creates in /dev (null, zero, full,
// random, urandom, tty), the terminal devices (console, ptmx, pts) and
// mknod of any node. Without them a spec that starts with deny-all, as
// containerd's default does, leaves /dev/urandom unreadable.
func alwaysAllowed() []specs.LinuxDeviceCgroup {
	i := func(v int64) *int64 { return &v }
	c := func(major, minor int64, access string) specs.LinuxDeviceCgroup {
		r := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i(major), Access: access}
		if minor >= 0 {
			r.Minor = i(minor)
		}
		return r
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: true, Type: "c", Access: "m"},
		{Allow: true, Type: "b", Access: "m"},
		c(1, 3, "rwm"), c(1, 5, "rwm"), c(1, 7, "rwm"), c(1, 8, "rwm"), c(1, 9, "rwm"),
		c(5, 0, "rwm"), c(5, 1, "rwm"), c(5, 2, "rwm"), c(136, -1, "rwm"),
	}
}

// withDeviceDefaults returns res with the always-allowed rules appended
// after the spec's own, leaving the caller's spec untouched.
func withDeviceDefaults(res *specs.LinuxResources) *specs.LinuxResources {
	out := specs.LinuxResources{}
	if res != nil {
		out = *res
	}
	out.Devices = append(append([]specs.LinuxDeviceCgroup{}, out.Devices...), alwaysAllowed()...)
	return &out
}

// ResourcesForUpdate is res as an update of a running container must apply
// it. An update that carries device rules replaces the container's whole
// rule list (its first rule is usually deny-all), so the always-allowed
// rules go on top again, as at create: CRI sends the spec's full resources,
// device rules included, with every `crictl update`, and without them the
// container lost /dev/null and /dev/zero. An update without device rules
// leaves the list alone and is returned as it is.
func ResourcesForUpdate(res *specs.LinuxResources) *specs.LinuxResources {
	if res == nil || len(res.Devices) == 0 {
		return res
	}
	return withDeviceDefaults(res)
}
