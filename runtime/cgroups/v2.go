package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const unifiedMountpoint = "/sys/fs/cgroup"

// v2 is a cgroup on the unified hierarchy. Limits are converted and written
// here rather than through cgroup2.ToResources and Manager.Update, because
// the library writes "-1" where the kernel wants "max" (and so cannot lift
// a memory limit), computes swap wrongly for unlimited swap, overflows the
// io weight it converts into 16 bits, and silently drops per-device weights,
// cpu burst and idle, and the spec's unified map. It also creates missing
// control files, which turns a kernel without a feature into a write error
// instead of ErrNotImplemented. Processes, deletion and device filters go
// through the library.
type v2 struct {
	mountpoint string
	path       string
	dir        string
	m          *cgroup2.Manager
}

// newV2 takes the mountpoint so that tests can point it at a fake cgroupfs:
// a directory tree whose control files the test creates beforehand.
func newV2(mountpoint, path string, res *specs.LinuxResources) (Manager, error) {
	if res == nil {
		res = &specs.LinuxResources{}
	}
	controllers, err := v2Controllers(res)
	if err != nil {
		return nil, err
	}
	if err := checkAvailable(mountpoint, controllers); err != nil {
		return nil, err
	}
	dir := filepath.Join(mountpoint, path)
	// Convert once before creating anything so that invalid values are
	// refused without touching the hierarchy.
	if _, err := v2Files(dir, res); err != nil {
		return nil, err
	}
	created := missingDirs(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		removeDirs(created)
		return nil, fmt.Errorf("create v2 cgroup %s: %w", path, err)
	}
	m, err := cgroup2.Load(path, cgroup2.WithMountpoint(mountpoint))
	if err == nil {
		c := &v2{mountpoint: mountpoint, path: path, dir: dir, m: m}
		if err = c.apply(controllers, res); err == nil {
			return c, nil
		}
	}
	removeDirs(created)
	return nil, fmt.Errorf("create v2 cgroup %s: %w", path, err)
}

func loadV2(mountpoint, path string) (Manager, error) {
	dir := filepath.Join(mountpoint, path)
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		if notExist(err) {
			return nil, fmt.Errorf("v2 cgroup %s: %w", path, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("load v2 cgroup %s: %w", path, err)
	}
	m, err := cgroup2.Load(path, cgroup2.WithMountpoint(mountpoint))
	if err != nil {
		return nil, fmt.Errorf("load v2 cgroup %s: %w", path, err)
	}
	return &v2{mountpoint: mountpoint, path: path, dir: dir, m: m}, nil
}

// checkAvailable fails with ErrNotImplemented when the host does not offer
// a controller that res needs, for instance one still bound to v1.
func checkAvailable(mountpoint string, controllers []string) error {
	if len(controllers) == 0 {
		return nil
	}
	s, err := readFile(mountpoint, "cgroup.controllers")
	if err != nil {
		return fmt.Errorf("read available controllers: %w", err)
	}
	have := map[string]bool{}
	for _, c := range strings.Fields(s) {
		have[c] = true
	}
	var missing []string
	for _, c := range controllers {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return notImplemented(fmt.Sprintf("cgroup v2 controllers %v are not available at %s", missing, mountpoint))
	}
	return nil
}

// enableControllers turns controllers on in the subtree_control of every
// ancestor, writing only what is missing so that an already set-up parent
// (which may hold processes and then refuse changes) is left alone. The
// library's ToggleControllers writes unconditionally and keeps only the
// last error.
func (c *v2) enableControllers(controllers []string) error {
	var parents []string
	for d := filepath.Dir(c.dir); strings.HasPrefix(d, c.mountpoint); d = filepath.Dir(d) {
		parents = append(parents, d)
		if d == c.mountpoint || d == "/" {
			break
		}
	}
	for i := len(parents) - 1; i >= 0; i-- {
		cur, err := readFile(parents[i], "cgroup.subtree_control")
		if err != nil {
			return fmt.Errorf("read subtree controllers of %s: %w", parents[i], err)
		}
		on := map[string]bool{}
		for _, f := range strings.Fields(cur) {
			on[f] = true
		}
		var add []string
		for _, ctl := range controllers {
			if !on[ctl] {
				add = append(add, "+"+ctl)
			}
		}
		if len(add) == 0 {
			continue
		}
		if err := writeFile(parents[i], "cgroup.subtree_control", strings.Join(add, " ")); err != nil {
			return fmt.Errorf("enable controllers: %w", err)
		}
	}
	return nil
}

func (c *v2) apply(controllers []string, res *specs.LinuxResources) error {
	if err := c.enableControllers(controllers); err != nil {
		return err
	}
	if m := res.Memory; m != nil && m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate && m.Limit != nil && *m.Limit > 0 {
		if err := checkUsage(c.dir, "memory.current", *m.Limit); err != nil {
			return err
		}
	}
	files, err := v2Files(c.dir, res)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := writeFile(c.dir, f.name, f.value); err != nil {
			return err
		}
	}
	if len(res.Devices) > 0 {
		return c.setDevices(res.Devices)
	}
	return nil
}

// setDevices attaches an eBPF device filter built by the library.
func (c *v2) setDevices(devices []specs.LinuxDeviceCgroup) error {
	// The spec reads an unset type as "a" and unset numbers as any; the
	// library's filter refuses the first and dereferences the second.
	wildcard := int64(-1)
	devices = slices.Clone(devices)
	for i := range devices {
		if devices[i].Type == "" {
			devices[i].Type = "a"
		}
		if devices[i].Major == nil {
			devices[i].Major = &wildcard
		}
		if devices[i].Minor == nil {
			devices[i].Minor = &wildcard
		}
	}
	insts, license, err := cgroup2.DeviceFilter(devices)
	if err != nil {
		return fmt.Errorf("device rules: %w: %w", errdefs.ErrInvalidArgument, err)
	}
	fd, err := unix.Open(c.dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", c.dir, err)
	}
	defer unix.Close(fd)
	// The program stays attached to the cgroup after the fd is closed;
	// the returned detach function is only needed to undo it.
	if _, err := cgroup2.LoadAttachCgroupDeviceFilter(insts, license, fd); err != nil {
		return fmt.Errorf("attach device filter to %s: %w", c.dir, err)
	}
	return nil
}

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
	devices := make([]string, 0, len(res.Rdma))
	for d := range res.Rdma {
		devices = append(devices, d)
	}
	sort.Strings(devices)
	for _, d := range devices {
		r := res.Rdma[d]
		if d == "" || strings.ContainsAny(d, " \n") {
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
			add("rdma.max", v)
		}
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
// library's conversion, the log-quadratic curve runc (1.3.2+), crun and
// Kubernetes moved to in 2025: it keeps the range ends (2 -> 1,
// 262144 -> 10000) like the older linear 1+(shares-2)*9999/262142, and
// also maps the v1 default 1024 to the v2 default 100, where the linear
// formula gave 39 and starved containers against everything else on the
// host.
func sharesToWeight(shares uint64) uint64 {
	return cgroup2.ConvertCPUSharesToCgroupV2Value(shares)
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

func (c *v2) Path() string { return c.path }

func (c *v2) ProcsFiles() []string {
	return []string{filepath.Join(c.dir, "cgroup.procs")}
}

func (c *v2) Add(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("pid %d: %w", pid, errdefs.ErrInvalidArgument)
	}
	if err := c.m.AddProc(uint64(pid)); err != nil {
		if notExist(err) {
			return fmt.Errorf("add %d to cgroup %s: %w", pid, c.path, errdefs.ErrNotFound)
		}
		return fmt.Errorf("add %d to cgroup %s: %w", pid, c.path, err)
	}
	return nil
}

func (c *v2) Pids() ([]int, error) {
	procs, err := c.m.Procs(true)
	if err != nil {
		if notExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list processes of %s: %w", c.path, err)
	}
	pids := make([]int, 0, len(procs))
	for _, p := range procs {
		pids = append(pids, int(p))
	}
	sort.Ints(pids)
	return pids, nil
}

func (c *v2) Update(res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	controllers, err := v2Controllers(res)
	if err != nil {
		return err
	}
	if err := checkAvailable(c.mountpoint, controllers); err != nil {
		return err
	}
	if err := c.apply(controllers, res); err != nil {
		return fmt.Errorf("update cgroup %s: %w", c.path, err)
	}
	return nil
}

// Freeze and Thaw are written here because the library reads back
// cgroup.freeze, which only echoes the request, and then polls without a
// bound; the kernel reports the state reached in cgroup.events.
func (c *v2) Freeze() error { return c.setFrozen(true) }
func (c *v2) Thaw() error   { return c.setFrozen(false) }

func (c *v2) setFrozen(frozen bool) error {
	want := "0"
	if frozen {
		want = "1"
	}
	if err := writeFile(c.dir, "cgroup.freeze", want); err != nil {
		return err
	}
	deadline := time.Now().Add(freezeTimeout)
	for {
		events, err := readFile(c.dir, "cgroup.events")
		if err != nil {
			return fmt.Errorf("read state of %s: %w", c.path, err)
		}
		if eventValue(events, "frozen") == want {
			return nil
		}
		if time.Now().After(deadline) {
			if frozen {
				_ = writeFile(c.dir, "cgroup.freeze", "0")
			}
			return fmt.Errorf("cgroup %s not frozen=%s after %s: %w", c.path, want, freezeTimeout, context.DeadlineExceeded)
		}
		time.Sleep(pollInterval)
	}
}

func eventValue(events, key string) string {
	for _, line := range strings.Split(events, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// killCgroup uses cgroup.kill (Linux 5.14+), which kills every process of
// the subtree atomically, without the freeze-and-signal dance.
func (c *v2) killCgroup() error {
	return writeFile(c.dir, "cgroup.kill", "1")
}

func (c *v2) Delete() error {
	if _, err := os.Stat(c.dir); notExist(err) {
		return nil
	}
	pids, err := c.Pids()
	if err != nil {
		return err
	}
	if len(pids) > 0 {
		return fmt.Errorf("cgroup %s still has processes %v: %w", c.path, pids, errdefs.ErrFailedPrecondition)
	}
	if err := c.m.Delete(); err != nil && !notExist(err) {
		return fmt.Errorf("remove cgroup %s: %w", c.path, err)
	}
	return nil
}
