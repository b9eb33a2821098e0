package cgroups

import (
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

// libError gives an error of the library its errdefs kind. The library
// opens control files with O_CREATE, so a file the kernel does not have
// (a feature it lacks) fails with EACCES on cgroupfs rather than ENOENT;
// both mean ErrNotImplemented when the file is indeed missing, and
// ErrNotFound when the whole cgroup is. EBUSY is the kernel refusing a
// value because of what the cgroup holds now (a memory limit below what it
// cannot reclaim, say): ErrFailedPrecondition.
func libError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && (notExist(pe.Err) || errors.Is(pe.Err, unix.EACCES)) {
		if _, serr := os.Lstat(pe.Path); notExist(serr) {
			if _, derr := os.Lstat(filepath.Dir(pe.Path)); notExist(derr) {
				return fmt.Errorf("cgroup %s: %w: %w", filepath.Dir(pe.Path), errdefs.ErrNotFound, err)
			}
			return fmt.Errorf("%w: %w", errdefs.ErrNotImplemented, err)
		}
	}
	if errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%w: %w", errdefs.ErrNotImplemented, err)
	}
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("%w: %w", errdefs.ErrFailedPrecondition, err)
	}
	return err
}

// retryEINVAL retries f while the kernel answers EINVAL to moving a task
// that is still being created (TASK_NEW), which passes quickly. cgroup1
// retries like this itself; cgroup2's AddProc does not.
func retryEINVAL(f func() error) error {
	var err error
	for range 5 {
		if err = f(); !errors.Is(err, unix.EINVAL) {
			return err
		}
		time.Sleep(30 * time.Millisecond)
	}
	return err
}

// rdmaLimits formats the rdma.max lines of both versions, one per device
// in name order (the map's order would make the writes differ run to
// run); a device with no limit set gets no line.
func rdmaLimits(rdma map[string]specs.LinuxRdma) ([]string, error) {
	var lines []string
	for _, d := range sortedKeys(rdma) {
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

// sortedKeys returns m's keys in order, so that writes from a map are the
// same run to run.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
