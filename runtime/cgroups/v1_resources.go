package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1Write is one control file write in the hierarchy of controller ctl.
type v1Write struct {
	ctl, file, value string
}

// checkV1 refuses settings whose hierarchy is not mounted: the library
// would skip them silently, and a limit that is silently absent is worse
// than a container that does not start.
func checkV1(hs []hierarchy, res *specs.LinuxResources) error {
	need := func(ctl, what string) error {
		for _, h := range hs {
			if h.has(ctl) {
				return nil
			}
		}
		return notImplemented(fmt.Sprintf("%s needs the v1 %s hierarchy, which is not mounted", what, ctl))
	}
	var errs []error
	if len(res.Devices) > 0 {
		errs = append(errs, need("devices", "device rules"))
	}
	if res.Memory != nil {
		errs = append(errs, need("memory", "memory settings"))
	}
	if c := res.CPU; c != nil {
		if c.Shares != nil || c.Quota != nil || c.Period != nil || c.Burst != nil ||
			c.RealtimeRuntime != nil || c.RealtimePeriod != nil || c.Idle != nil {
			errs = append(errs, need("cpu", "cpu settings"))
		}
		if c.Cpus != "" || c.Mems != "" {
			errs = append(errs, need("cpuset", "cpuset settings"))
		}
	}
	if res.Pids != nil && res.Pids.Limit != nil {
		errs = append(errs, need("pids", "pids limit"))
	}
	if res.BlockIO != nil {
		errs = append(errs, need("blkio", "block IO settings"))
	}
	if len(res.HugepageLimits) > 0 {
		errs = append(errs, need("hugetlb", "hugepage limits"))
	}
	if n := res.Network; n != nil {
		if n.ClassID != nil {
			errs = append(errs, need("net_cls", "network class id"))
		}
		if len(n.Priorities) > 0 {
			errs = append(errs, need("net_prio", "network priorities"))
		}
	}
	if len(res.Rdma) > 0 {
		errs = append(errs, need("rdma", "rdma limits"))
	}
	if len(res.Unified) > 0 {
		errs = append(errs, notImplemented("unified (cgroup v2) settings on a cgroup v1 host"))
	}
	return errors.Join(errs...)
}

// v1Writes converts res into control file writes, in the order to apply
// them, which is the library's order of controllers and of files within
// each. dir gives the cgroup's directory for a controller; it is read to
// order the memory limits and to choose the blkio weight files. Unlike the
// library, which left hugetlb and net_prio out of updates and wrote only
// one rdma device, every setting is written on creation and update alike.
func v1Writes(dir func(ctl string) string, res *specs.LinuxResources) ([]v1Write, error) {
	var out []v1Write
	add := func(ctl, file, value string) { out = append(out, v1Write{ctl, file, value}) }
	u64 := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }

	if p := res.Pids; p != nil && p.Limit != nil {
		// The library wrote nothing for "no limit", so that an update
		// could not lift one.
		limit := "max"
		if *p.Limit > 0 {
			limit = i64(*p.Limit)
		}
		add("pids", "pids.max", limit)
	}
	if n := res.Network; n != nil {
		if n.ClassID != nil && *n.ClassID > 0 {
			add("net_cls", "net_cls.classid", u64(uint64(*n.ClassID)))
		}
		for _, p := range n.Priorities {
			if p.Name == "" || strings.ContainsAny(p.Name, " \t\n") {
				return nil, fmt.Errorf("network interface %q: %w", p.Name, errdefs.ErrInvalidArgument)
			}
			add("net_prio", "net_prio.ifpriomap", p.Name+" "+u64(uint64(p.Priority)))
		}
	}
	if cpu := res.CPU; cpu != nil {
		if cpu.Cpus != "" {
			add("cpuset", "cpuset.cpus", cpu.Cpus)
		}
		if cpu.Mems != "" {
			add("cpuset", "cpuset.mems", cpu.Mems)
		}
		if cpu.RealtimePeriod != nil {
			add("cpu", "cpu.rt_period_us", u64(*cpu.RealtimePeriod))
		}
		if cpu.RealtimeRuntime != nil {
			add("cpu", "cpu.rt_runtime_us", i64(*cpu.RealtimeRuntime))
		}
		if cpu.Shares != nil {
			add("cpu", "cpu.shares", u64(*cpu.Shares))
		}
		if cpu.Period != nil {
			add("cpu", "cpu.cfs_period_us", u64(*cpu.Period))
		}
		if cpu.Quota != nil {
			add("cpu", "cpu.cfs_quota_us", i64(*cpu.Quota))
		}
		// Burst and idle are unknown to the library. Burst is bounded
		// by the quota, so it comes after it.
		if cpu.Burst != nil {
			add("cpu", "cpu.cfs_burst_us", u64(*cpu.Burst))
		}
		if cpu.Idle != nil {
			add("cpu", "cpu.idle", i64(*cpu.Idle))
		}
	}
	if m := res.Memory; m != nil {
		var limits []v1Write
		if m.Limit != nil {
			limits = append(limits, v1Write{"memory", "memory.limit_in_bytes", i64(*m.Limit)})
		}
		if m.Swap != nil {
			limits = append(limits, v1Write{"memory", "memory.memsw.limit_in_bytes", i64(*m.Swap)})
		}
		if memswFirst(dir("memory"), m) {
			slices.Reverse(limits)
		}
		out = append(out, limits...)
		if m.Reservation != nil {
			add("memory", "memory.soft_limit_in_bytes", i64(*m.Reservation))
		}
		//lint:ignore SA1019 deprecated, but a caller setting it must see it applied or refused
		if k := m.Kernel; k != nil {
			add("memory", "memory.kmem.limit_in_bytes", i64(*k))
		}
		if m.KernelTCP != nil {
			add("memory", "memory.kmem.tcp.limit_in_bytes", i64(*m.KernelTCP))
		}
		if m.DisableOOMKiller != nil {
			v := "0"
			if *m.DisableOOMKiller {
				v = "1"
			}
			add("memory", "memory.oom_control", v)
		}
		if m.Swappiness != nil {
			add("memory", "memory.swappiness", u64(*m.Swappiness))
		}
		if m.UseHierarchy != nil {
			v := "0"
			if *m.UseHierarchy {
				v = "1"
			}
			add("memory", "memory.use_hierarchy", v)
		}
	}
	if b := res.BlockIO; b != nil {
		weight, weightDevice := blkioWeightFiles(dir("blkio"))
		if b.Weight != nil {
			add("blkio", weight, u64(uint64(*b.Weight)))
		}
		if b.LeafWeight != nil {
			add("blkio", "blkio.leaf_weight", u64(uint64(*b.LeafWeight)))
		}
		for _, d := range b.WeightDevice {
			if d.Weight != nil {
				add("blkio", weightDevice, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight))
			}
			if d.LeafWeight != nil {
				add("blkio", "blkio.leaf_weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.LeafWeight))
			}
		}
		for _, t := range []struct {
			file string
			devs []specs.LinuxThrottleDevice
		}{
			{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
			{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
			{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
			{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
		} {
			for _, d := range t.devs {
				add("blkio", t.file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate))
			}
		}
	}
	rdma, err := rdmaLimits(res.Rdma)
	if err != nil {
		return nil, err
	}
	for _, v := range rdma {
		add("rdma", "rdma.max", v)
	}
	if len(res.Devices) > 0 {
		rules, err := deviceRules(res.Devices)
		if err != nil {
			return nil, err
		}
		// Start from nothing allowed, as the v2 filter does, so that
		// the rules mean the same on both and an update replaces the
		// previous rules instead of adding to them.
		add("devices", "devices.deny", "a")
		for _, r := range rules {
			file := "devices.deny"
			if r.allow {
				file = "devices.allow"
			}
			add("devices", file, r.v1String())
		}
	}
	for _, h := range res.HugepageLimits {
		if h.Pagesize == "" || strings.ContainsAny(h.Pagesize, "/\x00") {
			return nil, fmt.Errorf("hugepage size %q: %w", h.Pagesize, errdefs.ErrInvalidArgument)
		}
		limit := u64(h.Limit)
		add("hugetlb", "hugetlb."+h.Pagesize+".limit_in_bytes", limit)
		// As on v2, the reservation limit too where the kernel has it
		// (5.7+), which the library left alone.
		rsvd := "hugetlb." + h.Pagesize + ".rsvd.limit_in_bytes"
		if _, err := os.Stat(filepath.Join(dir("hugetlb"), rsvd)); err == nil {
			add("hugetlb", rsvd, limit)
		}
	}
	return out, nil
}

// memswFirst tells whether memsw.limit_in_bytes must be written before
// limit_in_bytes, since the kernel refuses any step that would leave the
// memory limit above the memory+swap one: when the new memory+swap limit
// is above the current memory limit, or unlimited (-1). The library meant
// to do the first but swapped the memory limit with the soft limit
// instead, and missed the second, so raising both limits failed.
func memswFirst(dir string, m *specs.LinuxMemory) bool {
	if m.Limit == nil || *m.Limit == 0 || m.Swap == nil || *m.Swap == 0 {
		return false
	}
	if *m.Swap < 0 {
		return true
	}
	cur, err := readFile(dir, "memory.limit_in_bytes")
	if err != nil {
		return false
	}
	n, err := strconv.ParseUint(cur, 10, 64)
	return err == nil && n < uint64(*m.Swap)
}

// blkioWeightFiles picks the weight files: CFQ's blkio.weight where it
// exists, else BFQ's blkio.bfq.weight, which kernels since 5.0 offer
// instead (as runc does; the library only knew the first, so a weight
// could not be set there).
func blkioWeightFiles(dir string) (weight, weightDevice string) {
	if _, err := os.Stat(filepath.Join(dir, "blkio.weight")); err != nil {
		if _, err := os.Stat(filepath.Join(dir, "blkio.bfq.weight")); err == nil {
			return "blkio.bfq.weight", "blkio.bfq.weight_device"
		}
	}
	return "blkio.weight", "blkio.weight_device"
}

// inheritCpuset fills cpuset.cpus and cpuset.mems of every cgroup from the
// hierarchy root down to dir where they are empty, from its parent: the
// kernel creates a cpuset cgroup with both empty and refuses to let a task
// join it until they are set.
func inheritCpuset(root, dir string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("cgroup %s is not below %s", dir, root)
	}
	parent := root
	for _, name := range strings.Split(rel, string(filepath.Separator)) {
		cur := filepath.Join(parent, name)
		for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := readFile(cur, file)
			if err != nil {
				return err
			}
			if v != "" {
				continue
			}
			pv, err := readFile(parent, file)
			if err != nil {
				return err
			}
			if err := writeFile(cur, file, pv); err != nil {
				return err
			}
		}
		parent = cur
	}
	return nil
}
