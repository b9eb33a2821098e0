package runtime

import "github.com/raind/raind/runtime/cgroups"

// testCgroups is the driver the shim uses (process.Cgroups), which this
// package's tests cannot import.
func testCgroups() Cgroups {
	newFn, load, killAll := cgroups.Driver[Cgroup]()
	return Cgroups{New: newFn, Load: load, KillAll: killAll}
}
