package cgroups

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	sddbus "github.com/coreos/go-systemd/v22/dbus"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// unifiedProperties translates the unified entries systemd manages;
// systemd would otherwise write its own values over them on a reload. The
// other entries are written to the files only.
func unifiedProperties(version int, unified map[string]string) ([]sddbus.Property, error) {
	var props []sddbus.Property
	for _, k := range sortedKeys(unified) {
		v := strings.TrimSpace(unified[k])
		bad := func(err error) ([]sddbus.Property, error) {
			return nil, fmt.Errorf("unified %s=%q: %v: %w", k, v, err, errdefs.ErrInvalidArgument)
		}
		maxOrUint := func() (uint64, error) {
			if v == "max" {
				return usecInfinity, nil
			}
			return strconv.ParseUint(v, 10, 64)
		}
		switch k {
		case "memory.high", "memory.low", "memory.min", "memory.max", "memory.swap.max":
			n, err := maxOrUint()
			if err != nil {
				return bad(err)
			}
			name := map[string]string{"memory.high": "MemoryHigh", "memory.low": "MemoryLow", "memory.min": "MemoryMin",
				"memory.max": "MemoryMax", "memory.swap.max": "MemorySwapMax"}[k]
			props = append(props, prop(name, n))
		case "pids.max":
			n, err := maxOrUint()
			if err != nil {
				return bad(err)
			}
			props = append(props, prop("TasksMax", max(n, 1)))
		case "cpu.weight":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return bad(err)
			}
			props = append(props, prop("CPUWeight", n))
		case "cpu.max":
			f := strings.Fields(v)
			if len(f) < 1 || len(f) > 2 {
				return bad(fmt.Errorf("want \"quota [period]\""))
			}
			c := specs.LinuxCPU{}
			if f[0] != "max" {
				q, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil || q <= 0 {
					return bad(fmt.Errorf("bad quota %q", f[0]))
				}
				c.Quota = &q
			} else {
				q := int64(-1)
				c.Quota = &q
			}
			if len(f) == 2 {
				p, err := strconv.ParseUint(f[1], 10, 64)
				if err != nil || p == 0 {
					return bad(fmt.Errorf("bad period %q", f[1]))
				}
				c.Period = &p
			}
			cp, _, err := cpuProperties(true, version, &c)
			if err != nil {
				return nil, err
			}
			props = append(props, cp...)
		case "cpuset.cpus", "cpuset.mems":
			if version < sdAllowedCPUs {
				continue
			}
			bits, err := cpuListBits(v)
			if err != nil {
				return bad(err)
			}
			name := map[string]string{"cpuset.cpus": "AllowedCPUs", "cpuset.mems": "AllowedMemoryNodes"}[k]
			props = append(props, prop(name, bits))
		}
	}
	return props, nil
}
