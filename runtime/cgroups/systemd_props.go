package cgroups

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Versions of systemd that first took a property; an older systemd
// refuses the whole unit over one it does not know, so these are left to
// the cgroup files there.
const (
	sdCPUQuotaPeriod = 242 // CPUQuotaPeriodUSec
	sdAllowedCPUs    = 244 // AllowedCPUs, AllowedMemoryNodes
	sdCPUIdle        = 252 // CPUWeight=0 as cpu.idle=1
)

const (
	// defaultCPUPeriod is the kernel's cfs period, 100ms, on v1 and v2.
	defaultCPUPeriod = 100000
	// usecInfinity is systemd's "no limit" for a time or a count.
	usecInfinity = math.MaxUint64
)

func prop(name string, value any) sddbus.Property {
	return sddbus.Property{Name: name, Value: godbus.MakeVariant(value)}
}

// unitProperties are the properties raind starts a unit with: where it
// goes, its first process (a scope's; pid 0 for a slice), accounting on
// every controller so that systemd keeps them enabled, delegation so that
// raind may write the files systemd does not, and no default dependencies,
// so that the unit never waits for or is stopped with anything else (a
// container outlives a shutdown ordering it has no part in). res's
// properties follow.
func unitProperties(u systemdUnit, v2 bool, pid int, resProps []sddbus.Property) []sddbus.Property {
	props := []sddbus.Property{sddbus.PropDescription("raind container " + u.unit)}
	if u.isSlice() {
		props = append(props, sddbus.PropWants(u.slice))
	} else {
		props = append(props, sddbus.PropSlice(u.slice), prop("Delegate", true))
		if pid > 0 {
			props = append(props, prop("PIDs", []uint32{uint32(pid)}))
		}
	}
	io := "BlockIOAccounting"
	if v2 {
		io = "IOAccounting"
	}
	props = append(props,
		prop("MemoryAccounting", true), prop("CPUAccounting", true), prop(io, true), prop("TasksAccounting", true),
		prop("DefaultDependencies", false))
	return append(props, resProps...)
}

// resourceProperties translates res into the unit properties systemd
// knows, for a systemd of the given version (0 if unknown: the properties
// of later versions are then left out). systemd rewrites its cgroup files
// from these whenever it reloads, so every limit it manages must be given
// to it, or a reload would undo the files raind writes.
//
// It also returns res as the files must then be written: systemd keeps a
// cpu quota in whole percent, and the quota raind writes is rounded up the
// same way, so that the two agree.
//
// Left to the files only, as runc leaves them: v2 io weights (systemd
// would write io.bfq.weight from its own conversion), cpu burst, hugetlb,
// rdma, network classes and priorities, blkio throttling, v1 memory
// reservation and swap, kernel memory and swappiness.
func resourceProperties(v2 bool, version int, res *specs.LinuxResources, procDevices string) ([]sddbus.Property, *specs.LinuxResources, error) {
	if res == nil {
		return nil, nil, nil
	}
	out := *res
	var props []sddbus.Property
	if m := res.Memory; m != nil {
		mp, err := memoryProperties(v2, m)
		if err != nil {
			return nil, nil, err
		}
		props = append(props, mp...)
	}
	if c := res.CPU; c != nil {
		cp, cpu, err := cpuProperties(v2, version, c)
		if err != nil {
			return nil, nil, err
		}
		props = append(props, cp...)
		out.CPU = cpu
	}
	if b := res.BlockIO; !v2 && b != nil && b.Weight != nil && *b.Weight != 0 {
		props = append(props, prop("BlockIOWeight", uint64(*b.Weight)))
	}
	if p := res.Pids; p != nil && p.Limit != nil {
		props = append(props, prop("TasksMax", tasksMax(*p.Limit)))
	}
	dp, err := deviceProperties(res.Devices, procDevices)
	if err != nil {
		return nil, nil, err
	}
	props = append(props, dp...)
	if v2 && len(res.Unified) > 0 {
		up, err := unifiedProperties(version, res.Unified)
		if err != nil {
			return nil, nil, err
		}
		props = append(props, up...)
	}
	return props, &out, nil
}

// tasksMax is TasksMax for a pids limit: a negative limit is none, and
// systemd refuses 0, which the kernel would take as "no new task", so it
// becomes 1, the least systemd takes (runc does the same).
func tasksMax(limit int64) uint64 {
	switch {
	case limit < 0:
		return usecInfinity
	case limit == 0:
		return 1
	}
	return uint64(limit)
}

// limitValue is a memory limit as systemd takes it: -1 is unlimited.
func limitValue(name string, v int64) (uint64, error) {
	if v == -1 {
		return usecInfinity, nil
	}
	if v < 0 {
		return 0, fmt.Errorf("%s %d: %w", name, v, errdefs.ErrInvalidArgument)
	}
	return uint64(v), nil
}

func memoryProperties(v2 bool, m *specs.LinuxMemory) ([]sddbus.Property, error) {
	var props []sddbus.Property
	if m.Limit != nil && *m.Limit != 0 {
		v, err := limitValue("memory limit", *m.Limit)
		if err != nil {
			return nil, err
		}
		// MemoryLimit is the v1 property (memory.limit_in_bytes);
		// MemoryMax the v2 one (memory.max).
		name := "MemoryLimit"
		if v2 {
			name = "MemoryMax"
		}
		props = append(props, prop(name, v))
	}
	if !v2 {
		return props, nil
	}
	if m.Reservation != nil && *m.Reservation != 0 {
		v, err := limitValue("memory reservation", *m.Reservation)
		if err != nil {
			return nil, err
		}
		props = append(props, prop("MemoryLow", v))
	}
	if m.Swap != nil && *m.Swap != 0 {
		limit := int64(0)
		if m.Limit != nil {
			limit = *m.Limit
		}
		s, err := swapMax(*m.Swap, limit)
		if err != nil {
			return nil, err
		}
		v, _ := limitValue("swap", s)
		props = append(props, prop("MemorySwapMax", v))
	}
	return props, nil
}

// cpuProperties gives the cpu properties and the CPU resources with the
// quota rounded as systemd rounds it.
func cpuProperties(v2 bool, version int, c *specs.LinuxCPU) ([]sddbus.Property, *specs.LinuxCPU, error) {
	out := *c
	var props []sddbus.Property
	idle := v2 && c.Idle != nil && *c.Idle == 1 && version >= sdCPUIdle
	if idle {
		// systemd sets cpu.idle=1 for CPUWeight=0, and has no other way.
		props = append(props, prop("CPUWeight", uint64(0)))
	}
	if c.Shares != nil && *c.Shares != 0 {
		switch {
		case !v2:
			props = append(props, prop("CPUShares", *c.Shares))
		case !idle:
			props = append(props, prop("CPUWeight", sharesToWeight(*c.Shares)))
		}
	}
	quota, period := int64(0), uint64(0)
	if c.Quota != nil {
		quota = *c.Quota
	}
	if c.Period != nil {
		period = *c.Period
	}
	if quota != 0 || period != 0 {
		if period != 0 && version >= sdCPUQuotaPeriod {
			props = append(props, prop("CPUQuotaPeriodUSec", period))
		}
		perSec := uint64(usecInfinity)
		if quota > 0 {
			p := period
			if p == 0 {
				p = defaultCPUPeriod
			}
			// systemd keeps CPUQuota in percent of one CPU, so the
			// quota per second is rounded up to 10ms; the quota
			// written to the files follows, or the next reload of
			// systemd would change it.
			perSec = uint64(quota) * 1000000 / p
			if perSec%10000 != 0 {
				perSec = (perSec/10000 + 1) * 10000
				q := int64(perSec * p / 1000000)
				out.Quota = &q
			}
		}
		props = append(props, prop("CPUQuotaPerSecUSec", perSec))
	}
	if version >= sdAllowedCPUs {
		for _, s := range []struct{ name, list string }{{"AllowedCPUs", c.Cpus}, {"AllowedMemoryNodes", c.Mems}} {
			if s.list == "" {
				continue
			}
			bits, err := cpuListBits(s.list)
			if err != nil {
				return nil, nil, fmt.Errorf("%s %q: %v: %w", s.name, s.list, err, errdefs.ErrInvalidArgument)
			}
			props = append(props, prop(s.name, bits))
		}
	}
	return props, &out, nil
}

// cpuListBits turns a kernel cpu list ("0-3,8") into the byte array
// systemd takes for AllowedCPUs: bit n%8 of byte n/8 is cpu n.
func cpuListBits(list string) ([]byte, error) {
	var bits []byte
	for _, r := range strings.Split(strings.TrimSpace(list), ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("bad entry %q", r)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
				return nil, fmt.Errorf("bad range %q", r)
			}
		}
		for n := a; n <= b; n++ {
			for int(n/8) >= len(bits) {
				bits = append(bits, 0)
			}
			bits[n/8] |= 1 << (n % 8)
		}
	}
	return bits, nil
}
