package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup2"
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

// v2Resources converts res into the library's Resources and the control
// file writes it cannot express, which go after it. dir is read for the
// current cpu.max and to choose the io weight file.
//
// cgroup2.ToResources is not used because it is wrong in several places
// (report upstream): it converts the blkio weight in uint16 arithmetic,
// which overflows for any weight above 16 (500 gives 51), and writes the
// result to io.bfq.weight, whose range is the blkio one (1-1000) and which
// exists only with BFQ, where runc writes the weight unconverted and falls
// back to io.weight with 1+(w-10)*9999/990; it computes swap as
// swap-limit even when swap is -1 (unlimited); it drops cpu.max when only
// the quota is set, an rdma device with only one of its two limits, and
// per-device weights. Its Memory and CPU types hold int64s, which it
// writes as "-1" where the kernel wants "max", so unlimited values are
// written here.
func v2Resources(dir string, res *specs.LinuxResources) (*cgroup2.Resources, []setting, error) {
	lib := &cgroup2.Resources{}
	var out []setting
	add := func(name, value string) { out = append(out, setting{name, value}) }

	if m := res.Memory; m != nil {
		mem := &cgroup2.Memory{}
		limit := int64(0)
		if m.Limit != nil {
			limit = *m.Limit
		}
		if m.Swap != nil && *m.Swap != 0 {
			swap, err := swapMax(*m.Swap, limit)
			if err != nil {
				return nil, nil, err
			}
			if swap < 0 {
				add("memory.swap.max", "max")
			} else {
				mem.Swap = &swap
			}
		}
		switch {
		case limit > 0:
			mem.Max = &limit
		case limit < 0:
			add("memory.max", "max")
		}
		if r := m.Reservation; r != nil && *r != 0 {
			if *r > 0 {
				mem.Low = r
			} else {
				add("memory.low", "max")
			}
		}
		if *mem != (cgroup2.Memory{}) {
			lib.Memory = mem
		}
	}
	if cpu := res.CPU; cpu != nil {
		c := &cgroup2.CPU{Cpus: cpu.Cpus, Mems: cpu.Mems}
		if cpu.Shares != nil && *cpu.Shares != 0 {
			w := sharesToWeight(*cpu.Shares)
			c.Weight = &w
		}
		quotaSet := cpu.Quota != nil && *cpu.Quota != 0
		periodSet := cpu.Period != nil && *cpu.Period != 0
		if quotaSet || periodSet {
			c.Max = cgroup2.CPUMax(cpuMax(dir, cpu.Quota, cpu.Period))
		}
		if *c != (cgroup2.CPU{}) {
			lib.CPU = c
		}
		if cpu.Burst != nil {
			add("cpu.max.burst", strconv.FormatUint(*cpu.Burst, 10))
		}
		if cpu.Idle != nil {
			add("cpu.idle", strconv.FormatInt(*cpu.Idle, 10))
		}
	}
	if p := res.Pids; p != nil && p.Limit != nil {
		// As on v1, zero or below is no limit; the library writes
		// "max" for a negative Max and nothing for zero.
		limit := *p.Limit
		if limit <= 0 {
			limit = -1
		}
		lib.Pids = &cgroup2.Pids{Max: limit}
	}
	if b := res.BlockIO; b != nil {
		io := &cgroup2.IO{}
		// io.bfq.weight takes the blkio range (10-1000) as is;
		// io.weight (1-10000) needs scaling. Use BFQ's file when the
		// scheduler offers it, as runc does.
		_, err := os.Stat(filepath.Join(dir, "io.bfq.weight"))
		bfq := err == nil
		if w := b.Weight; w != nil && *w != 0 {
			if bfq {
				io.BFQ.Weight = *w
			} else {
				add("io.weight", strconv.FormatUint(blkioToIOWeight(*w), 10))
			}
		}
		for _, d := range b.WeightDevice {
			if d.Weight == nil || *d.Weight == 0 {
				continue
			}
			if bfq {
				add("io.bfq.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight))
			} else {
				add("io.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, blkioToIOWeight(*d.Weight)))
			}
		}
		for _, t := range []struct {
			typ  cgroup2.IOType
			devs []specs.LinuxThrottleDevice
		}{
			{cgroup2.ReadBPS, b.ThrottleReadBpsDevice},
			{cgroup2.WriteBPS, b.ThrottleWriteBpsDevice},
			{cgroup2.ReadIOPS, b.ThrottleReadIOPSDevice},
			{cgroup2.WriteIOPS, b.ThrottleWriteIOPSDevice},
		} {
			for _, d := range t.devs {
				if d.Rate == 0 {
					// As on v1, a rate of 0 removes the limit; the
					// library would write 0.
					add("io.max", fmt.Sprintf("%d:%d %s=max", d.Major, d.Minor, t.typ))
					continue
				}
				io.Max = append(io.Max, cgroup2.Entry{Type: t.typ, Major: d.Major, Minor: d.Minor, Rate: d.Rate})
			}
		}
		if io.BFQ.Weight != 0 || len(io.Max) > 0 {
			lib.IO = io
		}
	}
	if len(res.HugepageLimits) > 0 {
		var h cgroup2.HugeTlb
		for _, l := range res.HugepageLimits {
			if l.Pagesize == "" || strings.ContainsAny(l.Pagesize, "/\x00") {
				return nil, nil, fmt.Errorf("hugepage size %q: %w", l.Pagesize, errdefs.ErrInvalidArgument)
			}
			h = append(h, cgroup2.HugeTlbEntry{HugePageSize: l.Pagesize, Limit: l.Limit})
			// The spec asks for reservation limits too where the
			// kernel has them (5.7+); the library does not know them.
			rsvd := "hugetlb." + l.Pagesize + ".rsvd.max"
			if _, err := os.Stat(filepath.Join(dir, rsvd)); err == nil {
				add(rsvd, strconv.FormatUint(l.Limit, 10))
			}
		}
		lib.HugeTlb = &h
	}
	if _, err := rdmaLimits(res.Rdma); err != nil {
		return nil, nil, err
	}
	for _, d := range sortedKeys(res.Rdma) {
		r := res.Rdma[d]
		switch {
		case r.HcaHandles != nil && r.HcaObjects != nil:
			if lib.RDMA == nil {
				lib.RDMA = &cgroup2.RDMA{}
			}
			lib.RDMA.Limit = append(lib.RDMA.Limit, cgroup2.RDMAEntry{Device: d, HcaHandles: *r.HcaHandles, HcaObjects: *r.HcaObjects})
		case r.HcaHandles != nil || r.HcaObjects != nil:
			// The library writes both limits; the other one would
			// become 0.
			line, _ := rdmaLimits(map[string]specs.LinuxRdma{d: r})
			add("rdma.max", line[0])
		}
	}
	// The unified map comes last so that it overrides the typed fields,
	// as the spec intends.
	for _, k := range sortedKeys(res.Unified) {
		add(k, res.Unified[k])
	}
	return lib, out, nil
}

// maxOr renders a limit where a negative value means unlimited.
func maxOr(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// swapMax converts the spec's memory+swap total into v2's swap-only limit;
// -1 is unlimited.
func swapMax(swap, limit int64) (int64, error) {
	if swap < 0 {
		return -1, nil
	}
	if limit <= 0 {
		return 0, fmt.Errorf("swap limit %d without a memory limit: %w", swap, errdefs.ErrInvalidArgument)
	}
	if swap < limit {
		return 0, fmt.Errorf("memory+swap limit %d is below memory limit %d: %w", swap, limit, errdefs.ErrInvalidArgument)
	}
	return swap - limit, nil
}

// sharesToWeight maps cgroup v1 cpu.shares onto v2 cpu.weight with the
// library's conversion, the log-quadratic curve runc (1.3.2+), crun and
// Kubernetes moved to in 2025: it keeps the range ends (2 -> 1,
// 262144 -> 10000) like the older linear 1+(shares-2)*9999/262142, and
// also maps the v1 default 1024 to the v2 default 100, where the linear
// formula gave 39.
func sharesToWeight(shares uint64) uint64 {
	return cgroup2.ConvertCPUSharesToCgroupV2Value(shares)
}

// blkioToIOWeight maps blkio.weight [10, 1000] linearly onto io.weight
// [1, 10000], as runc does (1+(w-10)*9999/990, in 64 bits).
func blkioToIOWeight(w uint16) uint64 {
	v := uint64(min(max(w, 10), 1000))
	return 1 + (v-10)*9999/990
}

// cpuMax builds "quota period" for cpu.max. The kernel takes both at once,
// so a side the spec leaves unset keeps its current value.
func cpuMax(dir string, quota *int64, period *uint64) string {
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
	return q + " " + p
}
