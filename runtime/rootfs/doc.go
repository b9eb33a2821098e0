// Package rootfs builds a container's root filesystem from its OCI spec,
// inside a mount namespace that is already the container's: propagation,
// the spec's mounts, /dev, the switch of root (pivot_root, or MS_MOVE and
// chroot where pivot_root cannot work), masked and read-only paths, and a
// read-only root.
//
// All kernel calls go through Syscalls so that the logic is tested without
// root. It must not create namespaces, cgroups or processes.
package rootfs
