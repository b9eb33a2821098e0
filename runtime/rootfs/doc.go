// Package rootfs builds a container's root filesystem from its OCI spec,
// inside a mount namespace that is already the container's: propagation,
// the spec's mounts, /dev, the switch of root (pivot_root, or MS_MOVE and
// chroot where pivot_root cannot work), a read-only root, and (ProtectPaths,
// called later by the init) read-only and masked paths. The caller's
// callbacks run at the two points runc runs hooks and the console set-up:
// before and after the root switch.
//
// All kernel calls go through Syscalls so that the logic is tested without
// root. It must not create namespaces, cgroups or processes.
package rootfs
