package netdev

import (
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// validName is the kernel's rule for an interface name (dev_valid_name):
// 1 to 15 bytes, not "." or "..", no '/', ':' or white space.
func validName(name string) bool {
	if name == "" || len(name) >= unix.IFNAMSIZ || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsAny(name, "/: \t\n\v\f\r")
}

// Validate checks linux.netDevices: valid names on both sides, distinct
// names inside the container, and a network namespace for the container
// (hasNetNS) to move them into.
func Validate(devs map[string]specs.LinuxNetDevice, hasNetNS bool) error {
	if len(devs) == 0 {
		return nil
	}
	if !hasNetNS {
		return fmt.Errorf("linux.netDevices: moving network devices needs a network namespace: %w", errdefs.ErrInvalidArgument)
	}
	inside := map[string]string{}
	for _, host := range sortedNames(devs) {
		if !validName(host) {
			return fmt.Errorf("linux.netDevices: invalid device name %q: %w", host, errdefs.ErrInvalidArgument)
		}
		name := targetName(host, devs[host])
		if !validName(name) {
			return fmt.Errorf("linux.netDevices[%q].name: invalid device name %q: %w", host, name, errdefs.ErrInvalidArgument)
		}
		if other, dup := inside[name]; dup && !strings.Contains(name, "%d") {
			return fmt.Errorf("linux.netDevices: %q and %q would both be %q in the container: %w", other, host, name, errdefs.ErrInvalidArgument)
		}
		inside[name] = host
	}
	return nil
}

func targetName(host string, d specs.LinuxNetDevice) string {
	if d.Name != "" {
		return d.Name
	}
	return host
}

func sortedNames(devs map[string]specs.LinuxNetDevice) []string {
	names := make([]string, 0, len(devs))
	for n := range devs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
