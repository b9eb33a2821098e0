// Package mount mounts the root filesystem mounts containerd hands a task in
// its Create request (what snapshotters produce: an overlay, a bind, or
// another filesystem with flags and data) and unmounts everything at and
// below a container's rootfs when the task is deleted.
//
// It exists so that the shim does not link containerd's core/mount, which
// drags the protobuf runtime and much else into every shim's memory. It must
// therefore not import protobuf or anything under containerd/containerd; its
// only dependencies are the standard library, x/sys/unix, errdefs, moby's
// mountinfo and raind's runtime/idmap.
//
// It must never change the working directory of the calling process: a
// chdir is process-wide in Go. Overlay options longer than the kernel's
// one-page limit go through the new mount API instead (one "lowerdir+" per
// layer). Only on kernels without "lowerdir+" does it shorten the layers to
// paths relative to their common parent, and then the chdir happens on a
// throwaway thread that has first unshared its filesystem attributes.
//
// The uidmap= and gidmap= options of a user-namespaced container's
// snapshot are applied as containerd's mount package applies them: an
// overlay's lower layers, or a bind's source, id-mapped (idmapped_linux.go).
// What containerd's mount manager does before a mount reaches a runtime
// (loop devices, FUSE helpers, "format/" and "mkfs/" transforms,
// X-containerd.* options) is refused with errdefs.ErrNotImplemented rather
// than handed to the kernel.
package mount
