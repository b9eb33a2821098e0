package runtime

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// allows reports whether rules, applied in order, end up allowing access to
// the character device major:minor (a rule without a number matches any).
func allows(rules []specs.LinuxDeviceCgroup, major, minor int64, access string) bool {
	ok := false
	for _, r := range rules {
		if r.Type != "" && r.Type != "a" && r.Type != "c" {
			continue
		}
		if r.Major != nil && *r.Major != major || r.Minor != nil && *r.Minor != minor {
			continue
		}
		if r.Allow {
			ok = ok || containsAll(r.Access, access)
		} else if containsAny(r.Access, access) {
			ok = false
		}
	}
	return ok
}

func containsAll(have, want string) bool {
	for _, c := range want {
		if !containsAny(have, string(c)) {
			return false
		}
	}
	return true
}

func containsAny(have, want string) bool {
	for _, c := range want {
		for _, h := range have {
			if c == h {
				return true
			}
		}
	}
	return false
}

// TestResourcesForUpdate: an update with CRI's device rules (deny-all
// first) keeps /dev/null and /dev/zero usable; one without device rules
// leaves the container's list alone.
func TestResourcesForUpdate(t *testing.T) {
	if ResourcesForUpdate(nil) != nil {
		t.Error("nil resources became something")
	}
	limit := int64(64 << 20)
	mem := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}
	if got := ResourcesForUpdate(mem); got != mem || got.Devices != nil {
		t.Errorf("an update without device rules got %v", got.Devices)
	}

	denyAll := specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}
	res := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{denyAll}, Memory: mem.Memory}
	got := ResourcesForUpdate(res)
	if got.Memory != mem.Memory {
		t.Errorf("memory settings lost: %+v", got.Memory)
	}
	if len(got.Devices) == 0 || got.Devices[0] != denyAll {
		t.Fatalf("the update's own rules do not come first: %+v", got.Devices)
	}
	for _, minor := range []int64{3, 5} { // /dev/null, /dev/zero
		if !allows(got.Devices, 1, minor, "rwm") {
			t.Errorf("c 1:%d not allowed after the update: %+v", minor, got.Devices)
		}
	}
	if allows(got.Devices, 8, 0, "r") {
		t.Errorf("a disk allowed after a deny-all update: %+v", got.Devices)
	}
	if len(res.Devices) != 1 {
		t.Errorf("the caller's resources changed: %+v", res.Devices)
	}
}
