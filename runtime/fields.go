package runtime

import (
	"encoding/json"
	"fmt"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/raind/raind/runtime/lsm"
	"github.com/raind/raind/runtime/netdev"
	"github.com/raind/raind/runtime/procattr"
)

// specFieldsView, processFieldsView and linuxFieldsView are the parts of
// the spec views for the per-process attributes, security labels and
// network devices: what the creating side checks (every bad value is an
// InvalidArgument naming its field before anything starts) and, for
// execCPUAffinity and netDevices, acts on.
type specFieldsView struct {
	Mounts []mountView `json:"mounts"`
	// Sections for other platforms: a Linux runtime cannot honour them.
	Solaris json.RawMessage `json:"solaris"`
	Windows json.RawMessage `json:"windows"`
	VM      json.RawMessage `json:"vm"`
	ZOS     json.RawMessage `json:"zos"`
	FreeBSD json.RawMessage `json:"freebsd"`
}

type mountView struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type"`
	Source      string   `json:"source"`
	Options     []string `json:"options"`
	// UIDMappings and GIDMappings make an id-mapped mount (idmount.go).
	UIDMappings []specs.LinuxIDMapping `json:"uidMappings"`
	GIDMappings []specs.LinuxIDMapping `json:"gidMappings"`
}

type processFieldsView struct {
	// CommandLine and User.Username are Windows's.
	CommandLine string        `json:"commandLine"`
	User        userFieldView `json:"user"`
	// affinity is execCPUAffinity, checked: spawn applies its initial set.
	affinity procattr.Affinity
}

type userFieldView struct {
	Username string `json:"username"`
}

type linuxFieldsView struct {
	MemoryPolicy *specs.LinuxMemoryPolicy        `json:"memoryPolicy"`
	NetDevices   map[string]specs.LinuxNetDevice `json:"netDevices"`
}

// checkFields checks the spec-level fields of this file's concern.
func (v *specView) checkFields() error {
	for _, p := range []struct {
		name string
		raw  json.RawMessage
	}{{"solaris", v.Solaris}, {"windows", v.Windows}, {"vm", v.VM}, {"zos", v.ZOS}, {"freebsd", v.FreeBSD}} {
		if present(p.raw) {
			return fmt.Errorf("%s: a section for another platform; raind runs Linux containers: %w", p.name, errdefs.ErrInvalidArgument)
		}
	}
	if err := v.checkIDMapMounts(); err != nil {
		return err
	}
	l := v.Linux
	if l == nil {
		return nil
	}
	if present(l.Personality) {
		var p specs.LinuxPersonality
		if err := json.Unmarshal(l.Personality, &p); err != nil {
			return fmt.Errorf("linux.personality: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if _, _, err := procattr.Personality(&p); err != nil {
			return err
		}
	}
	if _, err := procattr.ParseMemoryPolicy(l.MemoryPolicy); err != nil {
		return err
	}
	return netdev.Validate(l.NetDevices, hasNamespace(l.Namespaces, specs.NetworkNamespace))
}

// checkFields checks the process fields of this file's concern, for an
// init and an exec alike, and keeps the parsed CPU affinity.
func (p *processView) checkFields() error {
	if p.CommandLine != "" {
		return fmt.Errorf("process.commandLine: Windows only; raind runs Linux containers: %w", errdefs.ErrInvalidArgument)
	}
	if p.User.Username != "" {
		return fmt.Errorf("process.user.username: Windows only; raind runs Linux containers: %w", errdefs.ErrInvalidArgument)
	}
	if present(p.Scheduler) {
		var s specs.Scheduler
		if err := json.Unmarshal(p.Scheduler, &s); err != nil {
			return fmt.Errorf("process.scheduler: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if _, err := procattr.SchedAttr(&s); err != nil {
			return err
		}
	}
	if present(p.IOPriority) {
		var io specs.LinuxIOPriority
		if err := json.Unmarshal(p.IOPriority, &io); err != nil {
			return fmt.Errorf("process.ioPriority: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if _, _, err := procattr.IOPrio(&io); err != nil {
			return err
		}
	}
	if present(p.ExecCPUAffinity) {
		var a specs.CPUAffinity
		if err := json.Unmarshal(p.ExecCPUAffinity, &a); err != nil {
			return fmt.Errorf("process.execCPUAffinity: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		aff, err := procattr.ParseAffinity(&a)
		if err != nil {
			return err
		}
		p.affinity = aff
	}
	// An AppArmor profile is left to the kernel, as runc leaves it: a host
	// without AppArmor refuses the profile when the init applies it.
	if p.SelinuxLabel == "" {
		// Asking go-selinux whether SELinux runs reads the mount table;
		// a shim need not, for the spec that has no label.
		return nil
	}
	return lsm.CheckProcessLabel(p.SelinuxLabel, lsm.SELinuxEnabled())
}

func hasNamespace(nss []specs.LinuxNamespace, t specs.LinuxNamespaceType) bool {
	for _, ns := range nss {
		if ns.Type == t {
			return true
		}
	}
	return false
}
