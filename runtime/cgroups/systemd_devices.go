package cgroups

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	sddbus "github.com/coreos/go-systemd/v22/dbus"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// deviceAllow is one DeviceAllow= entry, D-Bus signature (ss).
type deviceAllow struct {
	Path  string
	Perms string
}

// deviceProperties translates the device rules into DevicePolicy= and
// DeviceAllow=. They must be given to systemd: a delegated unit without a
// device policy gets "a" written to devices.allow on v1 whenever systemd
// reloads, which would open every device to the container.
//
// systemd takes only an allow list on top of a policy that denies
// everything else, so the rules must be a deny-all followed by allow
// rules (raind's defaults are allow rules, appended). Rules that allow
// everything, with no deny after, need no policy. A deny rule after an
// allow, or an allow that names a minor of any major, has no systemd
// form and is refused by name. procDevices is /proc/devices, which names
// the driver of a major number: systemd takes a whole major only by that
// name ("char-pts").
func deviceProperties(devs []specs.LinuxDeviceCgroup, procDevices string) ([]sddbus.Property, error) {
	rules, err := deviceRules(devs)
	if err != nil {
		return nil, err
	}
	start := -1
	for i, r := range rules {
		if !r.allow && r.typ == 'a' && r.major == -1 && r.minor == -1 && r.accessBits() == accessAll {
			start = i
		}
	}
	if start < 0 {
		// Everything allowed unless a rule denies something.
		for _, r := range rules {
			if !r.allow {
				return nil, refuseDeviceRule(r, "a deny rule without a deny-all before it")
			}
		}
		return nil, nil
	}
	var allow []deviceAllow
	for _, r := range rules[start+1:] {
		if !r.allow {
			return nil, refuseDeviceRule(r, "a deny rule after the deny-all")
		}
		if r.access == "" {
			continue
		}
		types := []string{"char", "block"}
		switch r.typ {
		case 'c':
			types = types[:1]
		case 'b':
			types = types[1:]
		}
		for _, t := range types {
			var entry string
			switch {
			case r.major == -1 && r.minor == -1:
				entry = t + "-*"
			case r.major == -1:
				return nil, refuseDeviceRule(r, "a minor number of any major")
			case r.minor == -1:
				name, ok := driverName(procDevices, t, r.major)
				if !ok {
					if r.typ == 'a' {
						continue
					}
					return nil, refuseDeviceRule(r, fmt.Sprintf("major %d is not in /proc/devices", r.major))
				}
				entry = t + "-" + name
			default:
				entry = fmt.Sprintf("/dev/%s/%d:%d", t, r.major, r.minor)
			}
			allow = append(allow, deviceAllow{Path: entry, Perms: canonicalAccess(r.access)})
		}
	}
	return []sddbus.Property{prop("DevicePolicy", "strict"), prop("DeviceAllow", allow)}, nil
}

func refuseDeviceRule(r deviceRule, why string) error {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	verb := "deny"
	if r.allow {
		verb = "allow"
	}
	return fmt.Errorf("systemd cgroup driver: device rule %s %c %s:%s %s: %s has no systemd DeviceAllow= form: %w",
		verb, r.typ, num(r.major), num(r.minor), r.access, why, errdefs.ErrNotImplemented)
}

// canonicalAccess orders the access letters as systemd prints them, so that
// a repeated letter or another order gives the same entry.
func canonicalAccess(access string) string {
	var b strings.Builder
	for _, c := range "rwm" {
		if strings.ContainsRune(access, c) {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// driverName finds the driver of a major number of type t ("char" or
// "block") in the text of /proc/devices.
func driverName(procDevices, t string, major int64) (string, bool) {
	section := ""
	sc := bufio.NewScanner(strings.NewReader(procDevices))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "Character devices:":
			section = "char"
			continue
		case "Block devices:":
			section = "block"
			continue
		}
		f := strings.Fields(line)
		if section != t || len(f) != 2 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && n == major {
			return f[1], true
		}
	}
	return "", false
}
