package runtime

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/raind/raind/runtime/procattr"
	"github.com/raind/raind/runtime/seccomp"
)

// Features lists the runtime-spec features raind implements, for the
// shim's -info answer. Like runc's, it describes raind, not the host:
// AppArmor and SELinux are "enabled" because raind applies them where the
// host has them (see package lsm).
func Features() *features.Features {
	yes, no := true, false
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         SupportedHooks(),
		MountOptions: []string{
			"defaults", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
			"sync", "async", "dirsync", "remount", "mand", "nomand",
			"atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime",
			"strictatime", "nostrictatime", "bind", "rbind", "rro",
			"private", "rprivate", "shared", "rshared", "slave", "rslave",
			"unbindable", "runbindable", "idmap", "ridmap",
		},
		Linux: &features.Linux{
			Namespaces: []string{
				string(specs.PIDNamespace), string(specs.NetworkNamespace), string(specs.MountNamespace),
				string(specs.IPCNamespace), string(specs.UTSNamespace), string(specs.CgroupNamespace),
				string(specs.UserNamespace), string(specs.TimeNamespace),
			},
			Cgroup:          &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no},
			Seccomp:         seccomp.Features(),
			Apparmor:        &features.Apparmor{Enabled: &yes},
			Selinux:         &features.Selinux{Enabled: &yes},
			IntelRdt:        &features.IntelRdt{Enabled: &no},
			MemoryPolicy:    &features.MemoryPolicy{Modes: procattr.MemoryPolicyModes(), Flags: procattr.MemoryPolicyFlags()},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &yes}},
			NetDevices:      &features.NetDevices{Enabled: &yes},
		},
	}
}
