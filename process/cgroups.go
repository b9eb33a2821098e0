package process

import (
	"github.com/raind/raind/runtime"
	"github.com/raind/raind/runtime/cgroups"
)

// Cgroups is the cgroup driver the shim gives package runtime: the
// containerd/cgroups/v3 based runtime/cgroups.
func Cgroups() runtime.Cgroups {
	newFn, load, killAll := cgroups.Driver[runtime.Cgroup]()
	return runtime.Cgroups{New: newFn, Load: load, KillAll: killAll}
}
