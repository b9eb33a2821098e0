package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// checkV1 refuses settings whose hierarchy is not mounted: the library
// would skip them silently, and a limit that is silently absent is worse
// than a container that does not start.
func checkV1(subs []cgroup1.Subsystem, res *specs.LinuxResources) error {
	have := map[cgroup1.Name]bool{}
	for _, s := range subs {
		have[s.Name()] = true
	}
	need := func(n cgroup1.Name, what string) error {
		if !have[n] {
			return notImplemented(fmt.Sprintf("%s needs the v1 %s hierarchy, which is not mounted", what, n))
		}
		return nil
	}
	var errs []error
	if len(res.Devices) > 0 {
		errs = append(errs, need(cgroup1.Devices, "device rules"))
	}
	if res.Memory != nil {
		errs = append(errs, need(cgroup1.Memory, "memory settings"))
	}
	if c := res.CPU; c != nil {
		if c.Shares != nil || c.Quota != nil || c.Period != nil || c.Burst != nil ||
			c.RealtimeRuntime != nil || c.RealtimePeriod != nil || c.Idle != nil {
			errs = append(errs, need(cgroup1.Cpu, "cpu settings"))
		}
		if c.Cpus != "" || c.Mems != "" {
			errs = append(errs, need(cgroup1.Cpuset, "cpuset settings"))
		}
	}
	if res.Pids != nil && res.Pids.Limit != nil {
		errs = append(errs, need(cgroup1.Pids, "pids limit"))
	}
	if res.BlockIO != nil {
		errs = append(errs, need(cgroup1.Blkio, "block IO settings"))
	}
	if len(res.HugepageLimits) > 0 {
		errs = append(errs, need(cgroup1.Hugetlb, "hugepage limits"))
	}
	if n := res.Network; n != nil {
		if n.ClassID != nil {
			errs = append(errs, need(cgroup1.NetCLS, "network class id"))
		}
		if len(n.Priorities) > 0 {
			errs = append(errs, need(cgroup1.NetPrio, "network priorities"))
		}
	}
	if len(res.Rdma) > 0 {
		errs = append(errs, need(cgroup1.Rdma, "rdma limits"))
	}
	if len(res.Unified) > 0 {
		errs = append(errs, notImplemented("unified (cgroup v2) settings on a cgroup v1 host"))
	}
	return errors.Join(errs...)
}

// validateV1 refuses values the library would write as they are into a
// file name or a control file: everything it reports is InvalidArgument.
func validateV1(res *specs.LinuxResources) error {
	if _, err := deviceRules(res.Devices); err != nil {
		return err
	}
	if _, err := rdmaLimits(res.Rdma); err != nil {
		return err
	}
	for _, h := range res.HugepageLimits {
		if h.Pagesize == "" || strings.ContainsAny(h.Pagesize, "/\x00") {
			return fmt.Errorf("hugepage size %q: %w", h.Pagesize, errdefs.ErrInvalidArgument)
		}
	}
	if n := res.Network; n != nil {
		for _, p := range n.Priorities {
			if p.Name == "" || strings.ContainsAny(p.Name, " \t\n") {
				return fmt.Errorf("network interface %q: %w", p.Name, errdefs.ErrInvalidArgument)
			}
		}
	}
	return nil
}

// creator and updater are what cgroup1 subsystems with settings
// implement (the library's own interfaces are unexported); hugetlb and
// net_prio implement only creator.
type creator interface {
	Create(path string, res *specs.LinuxResources) error
}

type updater interface {
	Update(path string, res *specs.LinuxResources) error
}

// apply writes res through the library, with the corrections below, in the
// library's order of controllers; what it cannot write comes last.
func (c *v1) apply(res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	lib := c.libResources(res)
	// The memory limits first, in the order the kernel accepts, one
	// call of the library's memory controller each (cgroup.Update would
	// run every controller each time).
	if steps := memoryLimitOrder(c.dir(cgroup1.Memory), res.Memory); len(steps) > 0 {
		mem, ok := c.subsystem(cgroup1.Memory).(updater)
		if !ok {
			return notImplemented("no v1 memory hierarchy")
		}
		for _, m := range steps {
			if err := mem.Update(c.path, &specs.LinuxResources{Memory: m}); err != nil {
				return err
			}
		}
	}
	if err := c.cg.Update(lib); err != nil {
		return err
	}
	// cgroup.Update skips hugetlb and net_prio, which have no Update, so
	// that updates never changed them: their Create writes the settings.
	for _, n := range []cgroup1.Name{cgroup1.Hugetlb, cgroup1.NetPrio} {
		if n == cgroup1.Hugetlb && len(res.HugepageLimits) == 0 || n == cgroup1.NetPrio && (res.Network == nil || len(res.Network.Priorities) == 0) {
			continue
		}
		if s, ok := c.subsystem(n).(creator); ok {
			if err := s.Create(c.path, lib); err != nil {
				return err
			}
		}
	}
	// The library writes only the first rdma device of the map (in
	// random order): one call per device.
	if len(res.Rdma) > 0 {
		rdma, ok := c.subsystem(cgroup1.Rdma).(updater)
		if !ok {
			return notImplemented("no v1 rdma hierarchy")
		}
		for _, dev := range sortedKeys(res.Rdma) {
			if err := rdma.Update(c.path, &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{dev: res.Rdma[dev]}}); err != nil {
				return err
			}
		}
	}
	for _, w := range c.extraWrites(res) {
		if err := writeFile(c.dir(w.ctl), w.file, w.value); err != nil {
			return err
		}
	}
	return nil
}

// libResources is res as the library must see it: a copy, with the parts
// it gets wrong taken out (written by apply or extraWrites instead).
func (c *v1) libResources(res *specs.LinuxResources) *specs.LinuxResources {
	lib := *res
	lib.Rdma = nil
	if cpu := res.CPU; cpu != nil {
		cc := *cpu
		// runc skips zero realtime values, and the kernel refuses
		// cpu.rt_period_us=0 with EINVAL; the library writes them, so a
		// container from nerdctl, which sends both as 0, could not be
		// created. Report upstream.
		if cc.RealtimePeriod != nil && *cc.RealtimePeriod == 0 {
			cc.RealtimePeriod = nil
		}
		if cc.RealtimeRuntime != nil && *cc.RealtimeRuntime == 0 {
			cc.RealtimeRuntime = nil
		}
		lib.CPU = &cc
	}
	if m := res.Memory; m != nil {
		mc := *m
		// Applied before, in order (memoryLimitOrder).
		mc.Limit, mc.Swap = nil, nil
		lib.Memory = &mc
	}
	if b := res.BlockIO; b != nil && c.bfqOnly() {
		bc := *b
		bc.Weight = nil
		bc.WeightDevice = nil
		for _, d := range b.WeightDevice {
			if d.LeafWeight != nil {
				d.Weight = nil
				bc.WeightDevice = append(bc.WeightDevice, d)
			}
		}
		lib.BlockIO = &bc
	}
	if len(res.Devices) > 0 {
		lib.Devices = libDevices(res.Devices)
	}
	return &lib
}

// libDevices is the rule list for the library: an unset type or number is
// spelled out, and the list starts from nothing allowed (as the v2 filter
// does) so that the rules mean the same on both, and an update replaces
// the previous rules instead of adding to them.
func libDevices(devs []specs.LinuxDeviceCgroup) []specs.LinuxDeviceCgroup {
	wildcard := int64(-1)
	out := []specs.LinuxDeviceCgroup{{Allow: false, Type: "a", Major: &wildcard, Minor: &wildcard, Access: "rwm"}}
	for _, d := range devs {
		if d.Type == "" {
			d.Type = "a"
		}
		if d.Major == nil {
			d.Major = &wildcard
		}
		if d.Minor == nil {
			d.Minor = &wildcard
		}
		out = append(out, d)
	}
	return out
}

// bfqOnly tells whether the blkio hierarchy has BFQ's weight files but not
// CFQ's, as kernels since 5.0 do. The library only knows blkio.weight, so
// a weight could not be set there; runc uses blkio.bfq.weight.
func (c *v1) bfqOnly() bool {
	dir := c.dir(cgroup1.Blkio)
	if _, err := os.Stat(filepath.Join(dir, "blkio.weight")); err == nil {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "blkio.bfq.weight"))
	return err == nil
}

// memoryLimitOrder returns the memory and memory+swap limits of m, one per
// library call, in the order to write them: the kernel refuses any step
// that would leave the memory limit above the memory+swap one. So memsw
// goes first when its new value is above the current memory limit or
// unlimited (-1). The library meant to do the first but swapped the memory
// limit with the soft limit instead, and missed the second, so raising
// both limits failed. Report upstream.
func memoryLimitOrder(dir string, m *specs.LinuxMemory) []*specs.LinuxMemory {
	if m == nil {
		return nil
	}
	var limit, swap *specs.LinuxMemory
	if m.Limit != nil {
		limit = &specs.LinuxMemory{Limit: m.Limit}
	}
	if m.Swap != nil {
		swap = &specs.LinuxMemory{Swap: m.Swap}
	}
	switch {
	case limit == nil && swap == nil:
		return nil
	case swap == nil:
		return []*specs.LinuxMemory{limit}
	case limit == nil:
		return []*specs.LinuxMemory{swap}
	case memswFirst(dir, m):
		return []*specs.LinuxMemory{swap, limit}
	}
	return []*specs.LinuxMemory{limit, swap}
}

func memswFirst(dir string, m *specs.LinuxMemory) bool {
	if *m.Limit == 0 || *m.Swap == 0 {
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

// v1Write is one control file write in the hierarchy of controller ctl.
type v1Write struct {
	ctl   cgroup1.Name
	file  string
	value string
}

// extraWrites are the settings the library does not write: a pids limit
// of "no limit" (it writes nothing, so an update could not lift one), cpu
// burst and idle, memory.use_hierarchy, BFQ weights, and hugetlb
// reservation limits where the kernel has them (5.7+).
func (c *v1) extraWrites(res *specs.LinuxResources) []v1Write {
	var out []v1Write
	add := func(ctl cgroup1.Name, file, value string) { out = append(out, v1Write{ctl, file, value}) }
	if p := res.Pids; p != nil && p.Limit != nil && *p.Limit <= 0 {
		add(cgroup1.Pids, "pids.max", "max")
	}
	if cpu := res.CPU; cpu != nil {
		// Burst is bounded by the quota, which the library wrote.
		if cpu.Burst != nil {
			add(cgroup1.Cpu, "cpu.cfs_burst_us", strconv.FormatUint(*cpu.Burst, 10))
		}
		if cpu.Idle != nil {
			add(cgroup1.Cpu, "cpu.idle", strconv.FormatInt(*cpu.Idle, 10))
		}
	}
	if m := res.Memory; m != nil && m.UseHierarchy != nil {
		v := "0"
		if *m.UseHierarchy {
			v = "1"
		}
		add(cgroup1.Memory, "memory.use_hierarchy", v)
	}
	if b := res.BlockIO; b != nil && c.bfqOnly() {
		if b.Weight != nil {
			add(cgroup1.Blkio, "blkio.bfq.weight", strconv.FormatUint(uint64(*b.Weight), 10))
		}
		for _, d := range b.WeightDevice {
			if d.Weight != nil {
				add(cgroup1.Blkio, "blkio.bfq.weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight))
			}
		}
	}
	for _, h := range res.HugepageLimits {
		rsvd := "hugetlb." + h.Pagesize + ".rsvd.limit_in_bytes"
		if _, err := os.Stat(filepath.Join(c.dir(cgroup1.Hugetlb), rsvd)); err == nil {
			add(cgroup1.Hugetlb, rsvd, strconv.FormatUint(h.Limit, 10))
		}
	}
	return out
}
