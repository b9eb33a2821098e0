// Package runtime creates and runs OCI containers on Linux: it turns a
// runtime-spec into a process inside new or joined namespaces, a prepared
// root filesystem and a cgroup, and runs exec processes inside it.
//
// It owns the protocol between the spawning side and the container's init
// (the same binary, re-executed), the init side of that protocol, and the
// order of the container's set-up (runc's; see prepare in init_linux.go),
// including when and where each kind of OCI hook runs. The kernel concerns
// live in its subpackages: nsenter (namespace entry before the Go runtime
// starts), rootfs, cgroups, security, seccomp, procattr (scheduling, I/O
// priority, personality, memory policy, CPU affinity), lsm (AppArmor and
// SELinux) and netdev (moving host interfaces in); running one hook is
// hooks'.
//
// It must not know about containerd, ttrpc, events or stdio FIFOs: callers
// hand it open files for stdio and a Monitor that reaps children, so it can
// be used without the shim.
package runtime
