package nsenter

import (
	"errors"
	"fmt"
	"os"
)

// Maps are the id maps of a new user namespace, in the kernel's format:
// one "<inside> <outside> <count>" line a range (user_namespaces(7)).
type Maps struct {
	UID, GID string
	// DenySetgroups writes "deny" to /proc/<pid>/setgroups first. The
	// kernel asks it of a writer without CAP_SETGID in the parent user
	// namespace, which may then map only its own gid; a privileged writer
	// leaves setgroups(2) to the container, as runc does.
	DenySetgroups bool
}

// Write writes m for the process pid, which must be in the new user
// namespace and not yet have entered anything else (the constructor
// waits for MapAck). Each file takes one write(2) holding all of it:
// the kernel accepts a map only once, whole.
func (m Maps) Write(pid int) error {
	if m.UID == "" || m.GID == "" {
		return errors.New("a new user namespace needs a uid and a gid map")
	}
	if m.DenySetgroups {
		// Before gid_map: the kernel takes "deny" only while no gid map
		// is written.
		if err := writeProcFile(pid, "setgroups", "deny"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := writeProcFile(pid, "uid_map", m.UID); err != nil {
		return err
	}
	return writeProcFile(pid, "gid_map", m.GID)
}

func writeProcFile(pid int, name, content string) error {
	p := fmt.Sprintf("/proc/%d/%s", pid, name)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer f.Close()
	n, err := f.Write([]byte(content))
	if err == nil && n != len(content) {
		err = errors.New("short write")
	}
	if err != nil {
		return fmt.Errorf("write %s %q: %w", name, content, err)
	}
	return nil
}

// WriteTimeOffsets writes the clock offsets of the new time namespace of
// process pid (the constructor waits for TimeAck), in one write(2).
func WriteTimeOffsets(pid int, offsets string) error {
	return writeProcFile(pid, "timens_offsets", offsets)
}
