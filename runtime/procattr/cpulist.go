package procattr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// maxListIndex bounds a CPU or node number: unix.CPUSet, which both
// sched_setaffinity and set_mempolicy take here, holds 1024 bits.
const maxListIndex = 1023

// parseList reads the kernel's list format ("0-3,7", as in cpuset.cpus and
// Cpus_allowed_list) into a set. field names the spec field for errors. An
// empty list is an empty set.
func parseList(field, s string) (unix.CPUSet, error) {
	var set unix.CPUSet
	bad := func(why string) (unix.CPUSet, error) {
		return unix.CPUSet{}, fmt.Errorf("%s %q: %s: %w", field, s, why, errdefs.ErrInvalidArgument)
	}
	if strings.TrimSpace(s) == "" {
		return set, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := listIndex(lo)
		if err != nil {
			return bad(err.Error())
		}
		last := first
		if isRange {
			if last, err = listIndex(hi); err != nil {
				return bad(err.Error())
			}
			if last < first {
				return bad(fmt.Sprintf("range %s runs backwards", part))
			}
		}
		for i := first; i <= last; i++ {
			set.Set(i)
		}
	}
	return set, nil
}

func listIndex(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty element")
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n > maxListIndex {
		return 0, fmt.Errorf("%d is above %d", n, maxListIndex)
	}
	return int(n), nil
}
