package cgroups

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const testProcDevices = `Character devices:
  1 mem
  4 /dev/vc/0
  5 /dev/tty
136 pts
254 gpiochip

Block devices:
  8 sd
259 blkext
`

func dev(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	d := specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Access: access}
	if major >= 0 {
		d.Major = &major
	}
	if minor >= 0 {
		d.Minor = &minor
	}
	return d
}

func TestDeviceProperties(t *testing.T) {
	// containerd's default rules, then raind's own.
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		dev(true, "c", -1, -1, "m"), dev(true, "b", -1, -1, "m"),
		dev(true, "c", 1, 3, "rwm"), dev(true, "c", 136, -1, "rwm"), dev(true, "b", 8, 0, "mr"),
		dev(true, "a", -1, -1, "r"), dev(true, "c", 5, 1, ""),
		dev(true, "a", 8, -1, "w"),
	}
	props, err := deviceProperties(rules, testProcDevices)
	if err != nil {
		t.Fatal(err)
	}
	got := propMap(t, props)
	want := map[string]any{
		"DevicePolicy": "strict",
		"DeviceAllow": []deviceAllow{
			{"char-*", "m"}, {"block-*", "m"}, {"/dev/char/1:3", "rwm"}, {"char-pts", "rwm"}, {"/dev/block/8:0", "rm"},
			{"char-*", "r"}, {"block-*", "r"},
			// Major 8 is only a block driver here.
			{"block-sd", "w"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if sig := props[1].Value.Signature().String(); sig != "a(ss)" {
		t.Errorf("DeviceAllow signature %s, want a(ss)", sig)
	}
	// Rules before the last deny-all no longer count.
	props, _ = deviceProperties([]specs.LinuxDeviceCgroup{dev(true, "c", 1, 3, "rwm"), {Access: "rwm"}, dev(true, "c", 1, 5, "rw")}, testProcDevices)
	if got := propMap(t, props)["DeviceAllow"]; !reflect.DeepEqual(got, []deviceAllow{{"/dev/char/1:5", "rw"}}) {
		t.Errorf("after a second deny-all: %v", got)
	}
	// A deny-all alone: nothing allowed.
	props, _ = deviceProperties([]specs.LinuxDeviceCgroup{{Type: "a", Access: "mwr"}}, testProcDevices)
	if got := propMap(t, props); got["DevicePolicy"] != "strict" || len(got["DeviceAllow"].([]deviceAllow)) != 0 {
		t.Errorf("deny-all: %v", got)
	}
}

func TestDevicePropertiesAllowAll(t *testing.T) {
	// A privileged container: everything allowed, no policy.
	for _, rules := range [][]specs.LinuxDeviceCgroup{nil, {{Allow: true, Access: "rwm"}, dev(true, "c", 1, 3, "rwm")}} {
		props, err := deviceProperties(rules, testProcDevices)
		if err != nil || props != nil {
			t.Errorf("%v: %v %v, want no properties", rules, props, err)
		}
	}
}

func TestDevicePropertiesRefused(t *testing.T) {
	for _, tc := range []struct {
		rules []specs.LinuxDeviceCgroup
		names string
	}{
		{[]specs.LinuxDeviceCgroup{dev(false, "c", 1, 3, "rwm")}, "deny c 1:3 rwm"},
		{[]specs.LinuxDeviceCgroup{{Access: "rwm"}, dev(true, "c", 1, -1, "rwm"), dev(false, "c", 1, 3, "w")}, "deny c 1:3 w"},
		// A partial deny-all is not a deny-all.
		{[]specs.LinuxDeviceCgroup{{Access: "rw"}, dev(true, "c", 1, 3, "rwm")}, "deny a *:* rw"},
		{[]specs.LinuxDeviceCgroup{{Access: "rwm"}, dev(true, "c", -1, 3, "rwm")}, "allow c *:3 rwm"},
		{[]specs.LinuxDeviceCgroup{{Access: "rwm"}, dev(true, "c", 77, -1, "r")}, "allow c 77:* r"},
	} {
		_, err := deviceProperties(tc.rules, testProcDevices)
		if !errors.Is(err, errdefs.ErrNotImplemented) || !strings.Contains(fmt.Sprint(err), tc.names) {
			t.Errorf("%v: %v, want NotImplemented naming %q", tc.rules, err, tc.names)
		}
	}
}

func TestDriverName(t *testing.T) {
	for _, tc := range []struct {
		t     string
		major int64
		name  string
		ok    bool
	}{
		{"char", 136, "pts", true}, {"char", 4, "/dev/vc/0", true}, {"block", 8, "sd", true}, {"char", 8, "", false}, {"block", 1, "", false},
	} {
		name, ok := driverName(testProcDevices, tc.t, tc.major)
		if name != tc.name || ok != tc.ok {
			t.Errorf("%s %d: %q %v", tc.t, tc.major, name, ok)
		}
	}
}
