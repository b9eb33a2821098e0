package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A container with its own user and cgroup namespaces on a cgroup v2 host
// gets its cgroup delegated, as runc delegates it: the cgroup directory
// and the files the kernel lists as delegatable (/sys/kernel/cgroup/delegate:
// cgroup.procs, cgroup.threads, cgroup.subtree_control and a few more) are
// chowned to the host ids of the container's root, so that it can make
// sub-cgroups, move its processes among them and enable controllers for
// them (systemd inside a container needs this). The resource limits of
// the cgroup itself stay the host's. cgroup v1 has no safe delegation;
// there nothing is chowned.

// delegatedFiles are the files delegated where the kernel does not list
// them (before Linux 4.15).
var delegatedFiles = []string{"cgroup.procs", "cgroup.threads", "cgroup.subtree_control"}

// delegateCgroup hands cg to the root of the user namespace process pid
// is in, on a cgroup v2 host; elsewhere it does nothing.
func delegateCgroup(cg Cgroup, pid int) error {
	procs := cg.ProcsFiles()
	if len(procs) != 1 {
		// v1 (or a hybrid host's several hierarchies): not delegated.
		return nil
	}
	dir := filepath.Dir(procs[0])
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("delegate cgroup %s: %w", dir, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil
	}
	uid, uok, err := rootID(fmt.Sprintf("/proc/%d/uid_map", pid))
	if err != nil {
		return err
	}
	gid, gok, err := rootID(fmt.Sprintf("/proc/%d/gid_map", pid))
	if err != nil {
		return err
	}
	if !uok || !gok {
		// No root in the namespace: no one to delegate to.
		return nil
	}
	return chownCgroup(dir, uid, gid, delegatable())
}

// rootID returns the host id that id 0 maps to in a map file, and whether
// 0 is mapped at all.
func rootID(mapFile string) (int, bool, error) {
	f, err := os.Open(mapFile)
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", mapFile, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		inside, err1 := strconv.ParseUint(fields[0], 10, 32)
		outside, err2 := strconv.ParseUint(fields[1], 10, 32)
		if err1 != nil || err2 != nil {
			return 0, false, fmt.Errorf("%s: bad line %q", mapFile, sc.Text())
		}
		if inside == 0 {
			return int(outside), true, nil
		}
	}
	return 0, false, sc.Err()
}

// delegatable lists the files the kernel says may be delegated.
func delegatable() []string {
	b, err := os.ReadFile("/sys/kernel/cgroup/delegate")
	if err != nil {
		return delegatedFiles
	}
	return strings.Fields(string(b))
}

// chownCgroup gives dir and its delegatable files to uid:gid. A file the
// kernel lists but this cgroup lacks (a controller not enabled) is skipped.
func chownCgroup(dir string, uid, gid int, files []string) error {
	if err := os.Lchown(dir, uid, gid); err != nil {
		return fmt.Errorf("delegate cgroup %s: %w", dir, err)
	}
	for _, name := range files {
		if strings.Contains(name, "/") {
			continue
		}
		if err := os.Lchown(filepath.Join(dir, name), uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delegate cgroup %s: %w", dir, err)
		}
	}
	return nil
}
