package runtime

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/raind/raind/runtime/procattr"
	"github.com/raind/raind/runtime/rootfs"
)

// TestFeaturesTruthful: what -info claims matches what the code does.
func TestFeaturesTruthful(t *testing.T) {
	f := Features()
	seen := map[string]bool{}
	for _, o := range f.MountOptions {
		seen[o] = true
		p := rootfs.ParseMountOptions([]string{o})
		if p.Data != "" {
			t.Errorf("mount option %q is listed but passed to the filesystem as data", o)
		}
	}
	if !seen["rro"] {
		t.Error("rro not listed")
	}
	for _, m := range f.Linux.MemoryPolicy.Modes {
		nodes := "0"
		if m == string(specs.MpolDefault) || m == string(specs.MpolLocal) {
			nodes = ""
		}
		if _, err := procattr.ParseMemoryPolicy(&specs.LinuxMemoryPolicy{Mode: specs.MemoryPolicyModeType(m), Nodes: nodes}); err != nil {
			t.Errorf("listed memory policy mode %s: %v", m, err)
		}
	}
	for _, fl := range f.Linux.MemoryPolicy.Flags {
		if _, err := procattr.ParseMemoryPolicy(&specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{specs.MemoryPolicyFlagType(fl)}}); err != nil {
			t.Errorf("listed memory policy flag %s: %v", fl, err)
		}
	}
	claims := map[string]bool{
		"Linux.NetDevices":        *f.Linux.NetDevices.Enabled,
		"Mount.UIDMappings":       *f.Linux.MountExtensions.IDMap.Enabled,
		"Linux.IntelRdt":          *f.Linux.IntelRdt.Enabled,
		"Linux.MountLabel":        *f.Linux.Selinux.Enabled,
		"Process.ApparmorProfile": *f.Linux.Apparmor.Enabled,
	}
	for field, enabled := range claims {
		if implemented := fieldList[field] != refused; implemented != enabled {
			t.Errorf("features say %s enabled=%v, the field list says %v", field, enabled, fieldList[field])
		}
	}
}

// TestFeaturesNamespacesPlanned: every namespace -info lists is one
// planNamespaces makes or joins, and every kind it handles is listed.
func TestFeaturesNamespacesPlanned(t *testing.T) {
	listed := map[string]bool{}
	for _, ns := range Features().Linux.Namespaces {
		listed[ns] = true
		l := &linuxView{Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}}}
		if ns != string(specs.MountNamespace) {
			l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.LinuxNamespaceType(ns)})
		}
		if ns == string(specs.UserNamespace) {
			l.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			l.GIDMappings = l.UIDMappings
		}
		if _, err := planNamespaces(l); err != nil {
			t.Errorf("listed namespace %s: %v", ns, err)
		}
	}
	for _, k := range nsKinds {
		if !listed[string(k.typ)] {
			t.Errorf("namespace %s is handled but not listed", k.typ)
		}
	}
}
