package runtime

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fieldState says what raind does with one runtime-spec field.
type fieldState int

const (
	// implemented: applied; its nested fields are checked one by one.
	implemented fieldState = iota + 1
	// implementedWhole: applied by a package that takes the value whole
	// (hooks, seccomp), whose own tests cover the nested fields.
	implementedWhole
	// refused: validation fails with InvalidArgument or NotImplemented,
	// naming the field.
	refused
)

// fieldList is every field of the pinned runtime-spec that a Linux spec can
// carry, by Go type and field name. A runtime-spec update that adds a
// field fails TestEveryFieldImplementedOrRefused until the field is added
// here, so no field is ever silently ignored.
var fieldList = map[string]fieldState{
	"Spec.Version":     implemented, // informational, as in runc
	"Spec.Process":     implemented,
	"Spec.Root":        implemented,
	"Spec.Hostname":    implemented,
	"Spec.Domainname":  implemented,
	"Spec.Mounts":      implemented,
	"Spec.Hooks":       implementedWhole, // runtime/hooks
	"Spec.Annotations": implemented,
	"Spec.Linux":       implemented,
	"Spec.Solaris":     refused,
	"Spec.Windows":     refused,
	"Spec.VM":          refused,
	"Spec.ZOS":         refused,
	"Spec.FreeBSD":     refused,

	"Root.Path":     implemented,
	"Root.Readonly": implemented,

	"Mount.Destination": implemented,
	"Mount.Type":        implemented,
	"Mount.Source":      implemented,
	"Mount.Options":     implemented,
	"Mount.UIDMappings": implemented, // idmount.go, runtime/idmap
	"Mount.GIDMappings": implemented,

	"Process.Terminal":        implemented,
	"Process.ConsoleSize":     implemented,
	"Process.User":            implemented,
	"Process.Args":            implemented,
	"Process.CommandLine":     refused, // Windows only
	"Process.Env":             implemented,
	"Process.Cwd":             implemented,
	"Process.Capabilities":    implemented,
	"Process.Rlimits":         implemented,
	"Process.NoNewPrivileges": implemented,
	"Process.ApparmorProfile": implemented,
	"Process.OOMScoreAdj":     implemented,
	"Process.Scheduler":       implemented,
	"Process.SelinuxLabel":    implemented,
	"Process.IOPriority":      implemented,
	"Process.ExecCPUAffinity": implemented,

	"Box.Height": implemented,
	"Box.Width":  implemented,

	"User.UID":            implemented,
	"User.GID":            implemented,
	"User.Umask":          implemented,
	"User.AdditionalGids": implemented,
	"User.Username":       refused, // Windows only

	"LinuxCapabilities.Bounding":    implemented,
	"LinuxCapabilities.Effective":   implemented,
	"LinuxCapabilities.Inheritable": implemented,
	"LinuxCapabilities.Permitted":   implemented,
	"LinuxCapabilities.Ambient":     implemented,

	"POSIXRlimit.Type": implemented,
	"POSIXRlimit.Hard": implemented,
	"POSIXRlimit.Soft": implemented,

	"Scheduler.Policy":   implemented,
	"Scheduler.Nice":     implemented,
	"Scheduler.Priority": implemented,
	"Scheduler.Flags":    implemented,
	"Scheduler.Runtime":  implemented,
	"Scheduler.Deadline": implemented,
	"Scheduler.Period":   implemented,

	"LinuxIOPriority.Class":    implemented,
	"LinuxIOPriority.Priority": implemented,

	"CPUAffinity.Initial": implemented,
	"CPUAffinity.Final":   implemented,

	"Linux.UIDMappings":       implemented, // userns.go
	"Linux.GIDMappings":       implemented,
	"Linux.Sysctl":            implemented,
	"Linux.Resources":         implemented,
	"Linux.CgroupsPath":       implemented,
	"Linux.Namespaces":        implemented,
	"Linux.Devices":           implemented,
	"Linux.NetDevices":        implemented,
	"Linux.Seccomp":           implementedWhole, // runtime/seccomp
	"Linux.RootfsPropagation": implemented,
	"Linux.MaskedPaths":       implemented,
	"Linux.ReadonlyPaths":     implemented,
	"Linux.MountLabel":        implemented,
	"Linux.IntelRdt":          refused,
	"Linux.MemoryPolicy":      implemented,
	"Linux.Personality":       implemented,
	"Linux.TimeOffsets":       implemented,

	"LinuxIDMapping.ContainerID": implemented, // userns.go, formatIDMap
	"LinuxIDMapping.HostID":      implemented,
	"LinuxIDMapping.Size":        implemented,
	"LinuxTimeOffset.Secs":       implemented, // formatTimeOffsets
	"LinuxTimeOffset.Nanosecs":   implemented,

	"LinuxNamespace.Type": implemented,
	"LinuxNamespace.Path": implemented,

	"LinuxDevice.Path":     implemented,
	"LinuxDevice.Type":     implemented,
	"LinuxDevice.Major":    implemented,
	"LinuxDevice.Minor":    implemented,
	"LinuxDevice.FileMode": implemented,
	"LinuxDevice.UID":      implemented,
	"LinuxDevice.GID":      implemented,

	"LinuxNetDevice.Name": implemented,

	"LinuxMemoryPolicy.Mode":  implemented,
	"LinuxMemoryPolicy.Nodes": implemented,
	"LinuxMemoryPolicy.Flags": implemented,

	"LinuxPersonality.Domain": implemented,
	"LinuxPersonality.Flags":  implemented,

	// Resources: runtime/cgroups writes each, or refuses it (with
	// NotImplemented) where the host's cgroup version has no such file.
	"LinuxResources.Devices":        implemented,
	"LinuxResources.Memory":         implemented,
	"LinuxResources.CPU":            implemented,
	"LinuxResources.Pids":           implemented,
	"LinuxResources.BlockIO":        implemented,
	"LinuxResources.HugepageLimits": implemented,
	"LinuxResources.Network":        implemented,
	"LinuxResources.Rdma":           implemented,
	"LinuxResources.Unified":        implemented,

	"LinuxDeviceCgroup.Allow":  implemented,
	"LinuxDeviceCgroup.Type":   implemented,
	"LinuxDeviceCgroup.Major":  implemented,
	"LinuxDeviceCgroup.Minor":  implemented,
	"LinuxDeviceCgroup.Access": implemented,

	"LinuxMemory.Limit":             implemented,
	"LinuxMemory.Reservation":       implemented,
	"LinuxMemory.Swap":              implemented,
	"LinuxMemory.Kernel":            implemented,
	"LinuxMemory.KernelTCP":         implemented,
	"LinuxMemory.Swappiness":        implemented,
	"LinuxMemory.DisableOOMKiller":  implemented,
	"LinuxMemory.UseHierarchy":      implemented,
	"LinuxMemory.CheckBeforeUpdate": implemented,

	"LinuxCPU.Shares":          implemented,
	"LinuxCPU.Quota":           implemented,
	"LinuxCPU.Burst":           implemented,
	"LinuxCPU.Period":          implemented,
	"LinuxCPU.RealtimeRuntime": implemented,
	"LinuxCPU.RealtimePeriod":  implemented,
	"LinuxCPU.Cpus":            implemented,
	"LinuxCPU.Mems":            implemented,
	"LinuxCPU.Idle":            implemented,

	"LinuxPids.Limit": implemented,

	"LinuxBlockIO.Weight":                  implemented,
	"LinuxBlockIO.LeafWeight":              implemented,
	"LinuxBlockIO.WeightDevice":            implemented,
	"LinuxBlockIO.ThrottleReadBpsDevice":   implemented,
	"LinuxBlockIO.ThrottleWriteBpsDevice":  implemented,
	"LinuxBlockIO.ThrottleReadIOPSDevice":  implemented,
	"LinuxBlockIO.ThrottleWriteIOPSDevice": implemented,

	"LinuxWeightDevice.LinuxBlockIODevice":   implemented,
	"LinuxWeightDevice.Weight":               implemented,
	"LinuxWeightDevice.LeafWeight":           implemented,
	"LinuxThrottleDevice.LinuxBlockIODevice": implemented,
	"LinuxThrottleDevice.Rate":               implemented,
	"LinuxBlockIODevice.Major":               implemented,
	"LinuxBlockIODevice.Minor":               implemented,

	"LinuxHugepageLimit.Pagesize": implemented,
	"LinuxHugepageLimit.Limit":    implemented,

	"LinuxNetwork.ClassID":    implemented,
	"LinuxNetwork.Priorities": implemented,

	"LinuxInterfacePriority.Name":     implemented,
	"LinuxInterfacePriority.Priority": implemented,

	"LinuxRdma.HcaHandles": implemented,
	"LinuxRdma.HcaObjects": implemented,
}

// refusals sets each refused field on a valid spec, and names the field as
// the error must: its path in config.json.
var refusals = map[string]struct {
	path string
	set  func(*specs.Spec)
}{
	"Spec.Solaris":        {"solaris", func(s *specs.Spec) { s.Solaris = &specs.Solaris{} }},
	"Spec.Windows":        {"windows", func(s *specs.Spec) { s.Windows = &specs.Windows{} }},
	"Spec.VM":             {"vm", func(s *specs.Spec) { s.VM = &specs.VM{} }},
	"Spec.ZOS":            {"zos", func(s *specs.Spec) { s.ZOS = &specs.ZOS{} }},
	"Spec.FreeBSD":        {"freebsd", func(s *specs.Spec) { s.FreeBSD = &specs.FreeBSD{} }},
	"Process.CommandLine": {"process.commandLine", func(s *specs.Spec) { s.Process.CommandLine = "cmd /c dir" }},
	"User.Username":       {"process.user.username", func(s *specs.Spec) { s.Process.User.Username = "Administrator" }},
	"Linux.IntelRdt":      {"linux.intelRdt", func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{} }},
}

func allowlistBase() *specs.Spec {
	return &specs.Spec{
		Process: &specs.Process{Args: []string{"true"}, Cwd: "/"},
		Root:    &specs.Root{Path: "rootfs"},
		Mounts:  []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}, {Destination: "/data", Type: "bind", Source: "/tmp"}},
		Linux:   &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}}},
	}
}

// TestEveryFieldImplementedOrRefused walks the pinned runtime-spec's types
// from Spec down and fails on any field fieldList does not account for.
func TestEveryFieldImplementedOrRefused(t *testing.T) {
	seen := map[string]bool{}
	var walk func(reflect.Type)
	visited := map[reflect.Type]bool{}
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ.PkgPath() != reflect.TypeOf(specs.Spec{}).PkgPath() || visited[typ] {
			return
		}
		visited[typ] = true
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			key := typ.Name() + "." + f.Name
			seen[key] = true
			state, ok := fieldList[key]
			if !ok {
				t.Errorf("runtime-spec field %s (json %q) is neither implemented nor refused", key, f.Tag.Get("json"))
				continue
			}
			if state == implemented {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(specs.Spec{}))
	for key := range fieldList {
		if !seen[key] {
			t.Errorf("fieldList names %s, which the pinned runtime-spec does not have (or only under a refused field)", key)
		}
	}
	for key, state := range fieldList {
		if _, ok := refusals[key]; (state == refused) != ok {
			t.Errorf("%s: refused fields, and only they, need a refusal case", key)
		}
	}
}

// TestRefusedFieldsAreRefused sets each refused field and checks that the
// spec is refused with the right kind of error, naming the field.
func TestRefusedFieldsAreRefused(t *testing.T) {
	if _, err := NewConfig(allowlistBase()); err != nil {
		t.Fatalf("base spec refused: %v", err)
	}
	for key, r := range refusals {
		s := allowlistBase()
		r.set(s)
		_, err := NewConfig(s)
		if !errors.Is(err, errdefs.ErrInvalidArgument) && !errors.Is(err, errdefs.ErrNotImplemented) {
			t.Errorf("%s: %v, want InvalidArgument or NotImplemented", key, err)
			continue
		}
		if !strings.Contains(err.Error(), r.path) {
			t.Errorf("%s: error %q does not name %s", key, err, r.path)
		}
	}
	// The process fields are refused for an exec too.
	for _, key := range []string{"Process.CommandLine", "User.Username"} {
		s := allowlistBase()
		refusals[key].set(s)
		if _, err := NewProcessConfig(s.Process); err == nil || !strings.Contains(err.Error(), refusals[key].path) {
			t.Errorf("exec with %s: %v", key, err)
		}
	}
}
