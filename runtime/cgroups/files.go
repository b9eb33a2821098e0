package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// writeFile writes value to an existing control file. It never creates the
// file: on cgroupfs a missing file means the kernel lacks the feature, which
// is ErrNotImplemented, unless the cgroup itself is gone (ErrNotFound).
func writeFile(dir, name, value string) error {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		if notExist(err) {
			if _, serr := os.Stat(dir); notExist(serr) {
				return fmt.Errorf("cgroup %s: %w", dir, errdefs.ErrNotFound)
			}
			return fmt.Errorf("%s: %w: %w", path, errdefs.ErrNotImplemented, err)
		}
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// Deprecated knobs that the kernel still lists but no longer
		// honours (v1 kmem limits since 5.16) answer EOPNOTSUPP.
		if errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("write %q to %s: %w: %w", value, path, errdefs.ErrNotImplemented, err)
		}
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

func readFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(b)), nil
}

// addProc writes pid into dir's cgroup.procs. The kernel answers EINVAL
// while the task is still being created (TASK_NEW), which passes quickly,
// so that is retried as the library and runc do.
func addProc(dir string, pid int) error {
	var err error
	for range 5 {
		if err = writeFile(dir, "cgroup.procs", strconv.Itoa(pid)); !errors.Is(err, unix.EINVAL) {
			return err
		}
		time.Sleep(30 * time.Millisecond)
	}
	return err
}

// procsUnder lists the processes of dir and of every cgroup below it. It
// fails with a not-exist error only when dir itself is missing; a child
// cgroup removed during the walk is simply skipped.
func procsUnder(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if notExist(err) && p != dir {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		f, err := os.Open(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			if notExist(err) && p != dir {
				return nil
			}
			return err
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if t := bytes.TrimSpace(s.Bytes()); len(t) > 0 {
				pid, err := strconv.Atoi(string(t))
				if err != nil {
					return fmt.Errorf("parse %s: %w", f.Name(), err)
				}
				pids = append(pids, pid)
			}
		}
		return s.Err()
	})
	return pids, err
}

// removeCgroup removes dir and any cgroups a container made below it,
// deepest first, since cgroupfs only removes empty cgroups one rmdir at a
// time. A missing dir is not an error.
func removeCgroup(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if notExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// WalkDir visits a directory before its children.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := rmdir(dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

// rmdir retries EBUSY: a cgroup stays populated for a moment after its last
// process has exited, until the kernel has released it.
func rmdir(dir string) error {
	delay := 10 * time.Millisecond
	var err error
	for i := range 6 {
		if i > 0 {
			time.Sleep(delay)
			delay *= 2
		}
		err = unix.Rmdir(dir)
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST):
			// cgroupfs never says this: a non-empty cgroup is EBUSY.
			// Only a plain directory standing in for one (a test's
			// fake cgroupfs) holds its control files as real files.
			return os.RemoveAll(dir)
		case !errors.Is(err, unix.EBUSY):
			return fmt.Errorf("remove %s: %w", dir, err)
		}
	}
	return fmt.Errorf("remove %s: %w", dir, err)
}

// missingDirs lists dir and those of its parents that do not exist, deepest
// first, so that a failed creation can remove exactly what it made.
func missingDirs(dir string) []string {
	var out []string
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		out = append(out, d)
	}
	return out
}

// removeDirs removes dirs in order; errors are ignored because this only
// undoes a failed creation, and a sibling created meanwhile by someone
// else rightly keeps a shared parent alive.
func removeDirs(dirs []string) {
	for _, d := range dirs {
		_ = os.Remove(d)
	}
}

func notExist(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT)
}

func notImplemented(what string) error {
	return fmt.Errorf("%s: %w", what, errdefs.ErrNotImplemented)
}

// rdmaLimits formats the rdma.max lines of both versions, one per device
// in name order (the map's order would make the writes differ run to
// run); a device with no limit set gets no line.
func rdmaLimits(rdma map[string]specs.LinuxRdma) ([]string, error) {
	devices := make([]string, 0, len(rdma))
	for d := range rdma {
		devices = append(devices, d)
	}
	sort.Strings(devices)
	var lines []string
	for _, d := range devices {
		r := rdma[d]
		if d == "" || strings.ContainsAny(d, " \t\n") {
			return nil, fmt.Errorf("rdma device %q: %w", d, errdefs.ErrInvalidArgument)
		}
		v := d
		if r.HcaHandles != nil {
			v += " hca_handle=" + strconv.FormatUint(uint64(*r.HcaHandles), 10)
		}
		if r.HcaObjects != nil {
			v += " hca_object=" + strconv.FormatUint(uint64(*r.HcaObjects), 10)
		}
		if v != d {
			lines = append(lines, v)
		}
	}
	return lines, nil
}
