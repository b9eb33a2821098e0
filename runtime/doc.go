// Package runtime creates and runs OCI containers on Linux: it turns a
// runtime-spec into a process inside new or joined namespaces, a prepared
// root filesystem and a cgroup, and runs exec processes inside it.
//
// It owns the protocol between the spawning side and the container's init
// (the same binary, re-executed), and the init side of that protocol. The
// kernel concerns live in its subpackages: nsenter (namespace entry before
// the Go runtime starts), rootfs, cgroups, security, procattr (scheduling,
// I/O priority, personality, memory policy, CPU affinity), lsm (AppArmor and
// SELinux) and netdev (moving host interfaces in).
//
// It must not know about containerd, ttrpc, events or stdio FIFOs: callers
// hand it open files for stdio and a Monitor that reaps children, so it can
// be used without the shim.
package runtime
