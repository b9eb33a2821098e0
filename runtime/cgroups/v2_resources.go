package cgroups

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type setting struct{ name, value string }

// v2Controllers validates res for v2 and names the controllers it needs.
func v2Controllers(res *specs.LinuxResources) ([]string, error) {
	need := map[string]bool{}
	var errs []error
	if m := res.Memory; m != nil {
		if m.Limit != nil || m.Reservation != nil || m.Swap != nil {
			need["memory"] = true
		}
		if m.Swappiness != nil {
			errs = append(errs, notImplemented("memory swappiness on cgroup v2"))
		}
		//lint:ignore SA1019 deprecated, but a caller setting it must hear that it is not applied
		if m.Kernel != nil && *m.Kernel != 0 {
			errs = append(errs, notImplemented("kernel memory limit on cgroup v2"))
		}
		if m.KernelTCP != nil && *m.KernelTCP != 0 {
			errs = append(errs, notImplemented("kernel TCP memory limit on cgroup v2"))
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			errs = append(errs, notImplemented("disabling the OOM killer on cgroup v2"))
		}
		if m.UseHierarchy != nil && !*m.UseHierarchy {
			errs = append(errs, notImplemented("non-hierarchical memory accounting on cgroup v2"))
		}
	}
	if cpu := res.CPU; cpu != nil {
		if cpu.Shares != nil || cpu.Quota != nil || cpu.Period != nil || cpu.Burst != nil || cpu.Idle != nil {
			need["cpu"] = true
		}
		if cpu.Cpus != "" || cpu.Mems != "" {
			need["cpuset"] = true
		}
		if (cpu.RealtimeRuntime != nil && *cpu.RealtimeRuntime != 0) || (cpu.RealtimePeriod != nil && *cpu.RealtimePeriod != 0) {
			errs = append(errs, notImplemented("realtime cpu scheduling on cgroup v2"))
		}
	}
	if p := res.Pids; p != nil && p.Limit != nil {
		need["pids"] = true
	}
	if b := res.BlockIO; b != nil {
		need["io"] = true
		if b.LeafWeight != nil && *b.LeafWeight != 0 {
			errs = append(errs, notImplemented("blkio leaf weight on cgroup v2"))
		}
		for _, d := range b.WeightDevice {
			if d.LeafWeight != nil && *d.LeafWeight != 0 {
				errs = append(errs, notImplemented("blkio device leaf weight on cgroup v2"))
			}
		}
	}
	if len(res.HugepageLimits) > 0 {
		need["hugetlb"] = true
	}
	if n := res.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		errs = append(errs, notImplemented("network class id and priorities on cgroup v2"))
	}
	if len(res.Rdma) > 0 {
		need["rdma"] = true
	}
	for k := range res.Unified {
		ctl, err := unifiedController(k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ctl != "cgroup" {
			need[ctl] = true
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(need))
	for c := range need {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// unifiedController checks a key of the spec's unified map, which names a
// file in the cgroup directory, and returns its controller prefix.
func unifiedController(key string) (string, error) {
	ctl, _, ok := strings.Cut(key, ".")
	if !ok || ctl == "" || strings.ContainsAny(key, "/\x00") {
		return "", fmt.Errorf("unified setting %q is not a cgroup file name: %w", key, errdefs.ErrInvalidArgument)
	}
	return ctl, nil
}

// v2Files converts res into control file writes, in the order to apply
// them. dir is read for the current cpu.max and to choose the io weight
// file.
func v2Files(dir string, res *specs.LinuxResources) ([]setting, error) {
	var out []setting
	add := func(name, value string) { out = append(out, setting{name, value}) }

	if m := res.Memory; m != nil {
		limit := int64(0)
		if m.Limit != nil {
			limit = *m.Limit
		}
		if m.Swap != nil && *m.Swap != 0 {
			swap, err := swapMax(*m.Swap, limit)
			if err != nil {
				return nil, err
			}
			add("memory.swap.max", swap)
		}
		if limit != 0 {
			add("memory.max", maxOr(limit))
		}
		if m.Reservation != nil && *m.Reservation != 0 {
			add("memory.low", maxOr(*m.Reservation))
		}
	}
	if cpu := res.CPU; cpu != nil {
		if cpu.Shares != nil && *cpu.Shares != 0 {
			add("cpu.weight", strconv.FormatUint(sharesToWeight(*cpu.Shares), 10))
		}
		quotaSet := cpu.Quota != nil && *cpu.Quota != 0
		periodSet := cpu.Period != nil && *cpu.Period != 0
		if quotaSet || periodSet {
			v, err := cpuMax(dir, cpu.Quota, cpu.Period)
			if err != nil {
				return nil, err
			}
			add("cpu.max", v)
		}
		if cpu.Burst != nil {
			add("cpu.max.burst", strconv.FormatUint(*cpu.Burst, 10))
		}
		if cpu.Idle != nil {
			add("cpu.idle", strconv.FormatInt(*cpu.Idle, 10))
		}
		// cpus before mems is the order runc uses; the kernel
		// checks each against the parent only.
		if cpu.Cpus != "" {
			add("cpuset.cpus", cpu.Cpus)
		}
		if cpu.Mems != "" {
			add("cpuset.mems", cpu.Mems)
		}
	}
	if p := res.Pids; p != nil && p.Limit != nil {
		add("pids.max", maxOr(*p.Limit))
	}
	if b := res.BlockIO; b != nil {
		// io.bfq.weight takes the blkio range (10-1000) as is; io.weight
		// (1-10000) needs scaling. Use BFQ's file when the scheduler
		// offers it, as runc does.
		weightFile, scale := "io.weight", blkioToIOWeight
		if _, err := os.Stat(filepath.Join(dir, "io.bfq.weight")); err == nil {
			weightFile, scale = "io.bfq.weight", func(w uint16) uint64 { return uint64(w) }
		}
		if b.Weight != nil && *b.Weight != 0 {
			add(weightFile, strconv.FormatUint(scale(*b.Weight), 10))
		}
		for _, d := range b.WeightDevice {
			if d.Weight != nil && *d.Weight != 0 {
				add(weightFile, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, scale(*d.Weight)))
			}
		}
		for _, t := range []struct {
			key  string
			devs []specs.LinuxThrottleDevice
		}{
			{"rbps", b.ThrottleReadBpsDevice},
			{"wbps", b.ThrottleWriteBpsDevice},
			{"riops", b.ThrottleReadIOPSDevice},
			{"wiops", b.ThrottleWriteIOPSDevice},
		} {
			for _, d := range t.devs {
				// As on v1, a rate of 0 removes the limit.
				rate := "max"
				if d.Rate != 0 {
					rate = strconv.FormatUint(d.Rate, 10)
				}
				add("io.max", fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.key, rate))
			}
		}
	}
	for _, h := range res.HugepageLimits {
		if h.Pagesize == "" || strings.ContainsAny(h.Pagesize, "/\x00") {
			return nil, fmt.Errorf("hugepage size %q: %w", h.Pagesize, errdefs.ErrInvalidArgument)
		}
		limit := strconv.FormatUint(h.Limit, 10)
		add("hugetlb."+h.Pagesize+".max", limit)
		// The spec asks for reservation limits too where the kernel
		// has them (5.7+).
		rsvd := "hugetlb." + h.Pagesize + ".rsvd.max"
		if _, err := os.Stat(filepath.Join(dir, rsvd)); err == nil {
			add(rsvd, limit)
		}
	}
	rdma, err := rdmaLimits(res.Rdma)
	if err != nil {
		return nil, err
	}
	for _, v := range rdma {
		add("rdma.max", v)
	}
	// The unified map comes last so that it overrides the typed fields,
	// as the spec intends.
	keys := make([]string, 0, len(res.Unified))
	for k := range res.Unified {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, res.Unified[k])
	}
	return out, nil
}

// maxOr renders a limit where a negative value means unlimited.
func maxOr(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// swapMax converts the spec's memory+swap total into v2's swap-only limit.
func swapMax(swap, limit int64) (string, error) {
	if swap < 0 {
		return "max", nil
	}
	if limit <= 0 {
		return "", fmt.Errorf("swap limit %d without a memory limit: %w", swap, errdefs.ErrInvalidArgument)
	}
	if swap < limit {
		return "", fmt.Errorf("memory+swap limit %d is below memory limit %d: %w", swap, limit, errdefs.ErrInvalidArgument)
	}
	return strconv.FormatInt(swap-limit, 10), nil
}

// sharesToWeight maps cgroup v1 cpu.shares onto v2 cpu.weight with the
// log-quadratic curve the library, runc (1.3.2+), crun and Kubernetes
// moved to in 2025: it keeps the range ends (2 -> 1, 262144 -> 10000) like
// the older linear 1+(shares-2)*9999/262142, and also maps the v1 default
// 1024 to the v2 default 100, where the linear formula gave 39 and starved
// containers against everything else on the host.
func sharesToWeight(shares uint64) uint64 {
	switch {
	case shares == 0:
		return 0 // unset
	case shares <= 2:
		return 1
	case shares >= 262144:
		return 10000
	}
	// log10(weight) is the parabola in x = log2(shares) through
	// (1, 0), (10, 2) and (18, 4): (x-1)(x+126)/612.
	x := math.Log2(float64(shares))
	return uint64(math.Ceil(math.Pow(10, (x-1)*(x+126)/612)))
}

// blkioToIOWeight maps blkio.weight [10, 1000] linearly onto io.weight
// [1, 10000].
func blkioToIOWeight(w uint16) uint64 {
	v := uint64(min(max(w, 10), 1000))
	return 1 + (v-10)*9999/990
}

// cpuMax builds "quota period" for cpu.max. The kernel takes both at once,
// so a side the spec leaves unset keeps its current value.
func cpuMax(dir string, quota *int64, period *uint64) (string, error) {
	q, p := "max", "100000"
	if cur, err := readFile(dir, "cpu.max"); err == nil {
		f := strings.Fields(cur)
		if len(f) == 2 {
			q, p = f[0], f[1]
		}
	}
	if quota != nil && *quota != 0 {
		q = maxOr(*quota)
	}
	if period != nil && *period != 0 {
		p = strconv.FormatUint(*period, 10)
	}
	return q + " " + p, nil
}
