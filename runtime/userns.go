package runtime

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/raind/raind/runtime/nsenter"
)

// maxIDMapLines is the kernel's limit on the lines of a uid_map or
// gid_map (user_namespaces(7), since Linux 4.15).
const maxIDMapLines = 340

// maxID is one past the last id a map may reach: (uid_t)-1 is never an id.
const maxID = 1<<32 - 1

// formatIDMap checks a spec's id mappings the way the kernel will, so that
// a bad one is the spec's fault, named, before anything starts, and renders
// them as the kernel's map file. Container root must be mapped: the
// container's init sets itself up as root of the namespace.
func formatIDMap(field string, ms []specs.LinuxIDMapping) (string, error) {
	bad := func(format string, a ...any) (string, error) {
		return "", fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, a...), errdefs.ErrInvalidArgument)
	}
	if len(ms) == 0 {
		return bad("a new user namespace needs mappings")
	}
	if len(ms) > maxIDMapLines {
		return bad("%d mappings; the kernel takes at most %d", len(ms), maxIDMapLines)
	}
	var b strings.Builder
	rootMapped := false
	for i, m := range ms {
		if m.Size == 0 {
			return bad("mapping %d has size 0", i)
		}
		if uint64(m.ContainerID)+uint64(m.Size) > maxID || uint64(m.HostID)+uint64(m.Size) > maxID {
			return bad("mapping %d (%d %d %d) goes past the last id", i, m.ContainerID, m.HostID, m.Size)
		}
		for j, o := range ms[:i] {
			if overlaps(m.ContainerID, o.ContainerID, m.Size, o.Size) {
				return bad("mappings %d and %d overlap inside the container", j, i)
			}
			if overlaps(m.HostID, o.HostID, m.Size, o.Size) {
				return bad("mappings %d and %d overlap on the host", j, i)
			}
		}
		rootMapped = rootMapped || m.ContainerID == 0
		fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
	}
	if !rootMapped {
		return bad("container id 0 is not mapped")
	}
	return b.String(), nil
}

func overlaps(a, b, sizeA, sizeB uint32) bool {
	return uint64(a) < uint64(b)+uint64(sizeB) && uint64(b) < uint64(a)+uint64(sizeA)
}

// timeClocks are the clocks a time namespace offsets, by their spec
// (and kernel) names.
var timeClocks = map[string]bool{"monotonic": true, "boottime": true}

// formatTimeOffsets checks linux.timeOffsets and renders them as
// /proc/<pid>/timens_offsets takes them.
func formatTimeOffsets(offsets map[string]specs.LinuxTimeOffset) (string, error) {
	clocks := make([]string, 0, len(offsets))
	for c, o := range offsets {
		if !timeClocks[c] {
			return "", fmt.Errorf("linux.timeOffsets: unknown clock %q (monotonic or boottime): %w", c, errdefs.ErrInvalidArgument)
		}
		if o.Nanosecs >= 1e9 {
			return "", fmt.Errorf("linux.timeOffsets.%s: nanosecs %d is a second or more: %w", c, o.Nanosecs, errdefs.ErrInvalidArgument)
		}
		clocks = append(clocks, c)
	}
	sort.Strings(clocks)
	var b strings.Builder
	for _, c := range clocks {
		fmt.Fprintf(&b, "%s %d %d\n", c, offsets[c].Secs, offsets[c].Nanosecs)
	}
	return b.String(), nil
}

// checkUserTime checks that the id mappings and time offsets go with the
// namespaces they configure. Mappings with a user namespace joined by
// path are allowed (containerd's CRI sets both for a pod's containers):
// they must then be the namespace's own, which spawn checks.
func (l *linuxView) checkUserTime() error {
	var user, tim *specs.LinuxNamespace
	for i := range l.Namespaces {
		switch l.Namespaces[i].Type {
		case specs.UserNamespace:
			user = &l.Namespaces[i]
		case specs.TimeNamespace:
			tim = &l.Namespaces[i]
		}
	}
	if user == nil && (len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0) {
		return fmt.Errorf("linux.uidMappings, linux.gidMappings: mappings without a user namespace: %w", errdefs.ErrInvalidArgument)
	}
	if user != nil && (user.Path == "" || len(l.UIDMappings)+len(l.GIDMappings) > 0) {
		if _, err := formatIDMap("linux.uidMappings", l.UIDMappings); err != nil {
			return err
		}
		if _, err := formatIDMap("linux.gidMappings", l.GIDMappings); err != nil {
			return err
		}
	}
	if len(l.TimeOffsets) > 0 && (tim == nil || tim.Path != "") {
		return fmt.Errorf("linux.timeOffsets: offsets need a new time namespace: %w", errdefs.ErrInvalidArgument)
	}
	_, err := formatTimeOffsets(l.TimeOffsets)
	return err
}

// checkUserProc refuses what the kernel would refuse later, less clearly:
// mounting proc takes CAP_SYS_ADMIN in the user namespace that owns the
// pid namespace, and the host's belongs to the host's user namespace, so
// a container in a user namespace but the host's pid namespace can never
// mount proc (Docker refuses --userns-remap with --pid=host too).
func (v *specView) checkUserProc() error {
	l := v.Linux
	if !hasNamespace(l.Namespaces, specs.UserNamespace) || hasNamespace(l.Namespaces, specs.PIDNamespace) {
		return nil
	}
	for i, m := range v.Mounts {
		if m.Type == "proc" {
			return fmt.Errorf("mounts[%d] (%s): proc in a user namespace needs a pid namespace of the container's, not the host's: %w",
				i, m.Destination, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// userMaps are the maps the spawning side writes for a new user namespace.
// A runtime without CAP_SETGID (which raind as a shim has, as host root)
// must deny setgroups first, or the kernel refuses the gid map.
func userMaps(l *linuxView) (nsenter.Maps, error) {
	uid, err := formatIDMap("linux.uidMappings", l.UIDMappings)
	if err != nil {
		return nsenter.Maps{}, err
	}
	gid, err := formatIDMap("linux.gidMappings", l.GIDMappings)
	if err != nil {
		return nsenter.Maps{}, err
	}
	return nsenter.Maps{UID: uid, GID: gid, DenySetgroups: !haveCap(unix.CAP_SETGID)}, nil
}

// haveCap reports whether this process has capability c in its effective
// set, from /proc/self/status.
func haveCap(c int) bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			set, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && set&(1<<uint(c)) != 0
		}
	}
	return false
}

// sameIDMap reports whether a map file as the kernel shows it (padded
// columns) holds exactly the ranges of want (as formatIDMap renders them).
func sameIDMap(kernel, want string) bool {
	norm := func(s string) []string {
		var lines []string
		for _, l := range strings.Split(s, "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				lines = append(lines, strings.Join(f, " "))
			}
		}
		sort.Strings(lines)
		return lines
	}
	a, b := norm(kernel), norm(want)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkJoinedMaps compares the maps of the user namespace process pid is
// in with the spec's, for a user namespace joined by path.
func checkJoinedMaps(pid int, want nsenter.Maps) error {
	for _, m := range []struct{ file, want string }{{"uid_map", want.UID}, {"gid_map", want.GID}} {
		got, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, m.file))
		if err != nil {
			return fmt.Errorf("read %s of the joined user namespace: %w", m.file, err)
		}
		if !sameIDMap(string(got), m.want) {
			return fmt.Errorf("the joined user namespace's %s is %q, not the spec's %q: %w",
				m.file, strings.Join(strings.Fields(string(got)), " "), strings.TrimSpace(m.want), errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
