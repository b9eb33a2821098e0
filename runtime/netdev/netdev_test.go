package netdev

import (
	"errors"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"eth0": true, "a": true, "eth%d": true, "0123456789abcde": true,
		"": false, ".": false, "..": false, "a/b": false, "a:b": false, "a b": false, "0123456789abcdef": false,
	} {
		if got := validName(name); got != want {
			t.Errorf("validName(%q) = %v", name, got)
		}
	}
}

func TestValidateTemplatesMayShareAName(t *testing.T) {
	devs := map[string]specs.LinuxNetDevice{"a": {Name: "eth%d"}, "b": {Name: "eth%d"}}
	if err := Validate(devs, true); err != nil {
		t.Errorf("two templates: %v", err)
	}
	// A device keeping its name clashes with another renamed to it.
	devs = map[string]specs.LinuxNetDevice{"x": {}, "y": {Name: "x"}}
	if err := Validate(devs, true); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("clash: %v", err)
	}
}

func TestMatchesTemplate(t *testing.T) {
	for _, c := range []struct {
		name, tmpl string
		want       bool
	}{
		{"eth0", "eth%d", true}, {"eth12", "eth%d", true}, {"eth", "eth%d", false},
		{"ethx", "eth%d", false}, {"veth3", "eth%d", false}, {"n3x", "n%dx", true},
	} {
		if got := matchesTemplate(c.name, c.tmpl); got != c.want {
			t.Errorf("matchesTemplate(%q, %q) = %v", c.name, c.tmpl, got)
		}
	}
}
