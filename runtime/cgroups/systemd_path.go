package cgroups

import (
	"fmt"
	"path"
	"strings"

	"github.com/containerd/errdefs"
)

// defaultSlice is where a unit goes when its path names no slice, as with
// runc and systemd-run.
const defaultSlice = "system.slice"

// unitNameMax is systemd's UNIT_NAME_MAX less the terminating NUL.
const unitNameMax = 255

// systemdUnit is a "slice:prefix:name" cgroupsPath translated to what
// systemd makes of it.
type systemdUnit struct {
	// slice is the parent slice unit: Slice= of a scope, Wants= of a
	// slice.
	slice string
	// unit is the unit raind asks systemd for: "prefix-name.scope", or
	// name itself when it ends in ".slice".
	unit string
	// dir is the cgroup systemd gives the unit, relative to the root of
	// every hierarchy (v1) or of the unified one (v2).
	dir string
}

// isSlice tells whether the unit is a slice, which systemd starts empty;
// a scope it starts only with a process in it.
func (u systemdUnit) isSlice() bool { return strings.HasSuffix(u.unit, ".slice") }

// IsSystemdPath tells whether a cgroupsPath is meant for the systemd
// driver: any path with a colon, as in "slice:prefix:name". raind takes no
// cgroupfs path with a colon, so that a path for the systemd driver can
// never silently become a directory of that name.
func IsSystemdPath(p string) bool { return strings.Contains(p, ":") }

// parseSystemdPath translates a "slice:prefix:name" cgroupsPath the way
// runc's systemd driver does: an empty slice is system.slice; a name
// ending in ".slice" is a slice unit, any other the scope
// "prefix-name.scope"; a slice "a-b.slice" is a.slice/a-b.slice on disk,
// since systemd nests a slice under the one its name's last dash cuts off.
func parseSystemdPath(p string) (systemdUnit, error) {
	invalid := func(why string) (systemdUnit, error) {
		return systemdUnit{}, fmt.Errorf("systemd cgroups path %q: %s: %w", p, why, errdefs.ErrInvalidArgument)
	}
	parts := strings.Split(p, ":")
	if len(parts) != 3 {
		return invalid(`want "slice:prefix:name"`)
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = defaultSlice
	}
	sliceDir, err := expandSlice(slice)
	if err != nil {
		return invalid(err.Error())
	}
	if name == "" {
		return invalid("empty name")
	}
	u := systemdUnit{slice: slice}
	if strings.HasSuffix(name, ".slice") {
		// A slice's place follows from its name alone; Wants= only
		// orders it after the parent. The name must therefore lie
		// under the slice the path gives, or the path would promise a
		// place systemd does not give it.
		dir, err := expandSlice(name)
		if err != nil {
			return invalid(err.Error())
		}
		if dir == "/" || path.Dir(dir) != sliceDir {
			return invalid(fmt.Sprintf("slice %s is not a child of %s", name, slice))
		}
		u.unit, u.dir = name, dir
	} else {
		// runc joins an empty prefix too ("-name.scope"), which systemd
		// accepts; raind follows.
		u.unit = prefix + "-" + name + ".scope"
		u.dir = path.Join(sliceDir, u.unit)
	}
	if err := checkUnitName(u.unit); err != nil {
		return invalid(err.Error())
	}
	return u, nil
}

// expandSlice gives the cgroup directory of a slice unit: "a-b-c.slice" is
// /a.slice/a-b.slice/a-b-c.slice, and "-.slice", the root slice, is /.
func expandSlice(slice string) (string, error) {
	base, ok := strings.CutSuffix(slice, ".slice")
	if !ok || base == "" {
		return "", fmt.Errorf("slice %q: not a slice unit name (NAME.slice)", slice)
	}
	if base == "-" {
		return "/", nil
	}
	if err := checkUnitName(slice); err != nil {
		return "", err
	}
	dir, prefix := "/", ""
	for _, part := range strings.Split(base, "-") {
		if part == "" {
			// "-a.slice", "a--b.slice" and "a-.slice" name no parent.
			return "", fmt.Errorf("slice %q: empty component between dashes", slice)
		}
		prefix += part
		dir = path.Join(dir, prefix+".slice")
		prefix += "-"
	}
	return dir, nil
}

// checkUnitName applies systemd's rules for a unit name: at most 255
// bytes of ASCII letters, digits and ":-_.\", and never "/" (the name is
// also a directory name here).
func checkUnitName(name string) error {
	if len(name) > unitNameMax {
		return fmt.Errorf("unit name %q is longer than %d bytes", name, unitNameMax)
	}
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte(":-_.\\", c) >= 0:
		default:
			return fmt.Errorf("unit name %q has %q, which systemd does not allow", name, c)
		}
	}
	return nil
}
