// Package idmap makes id-mapped mounts (mount_setattr(2) with
// MOUNT_ATTR_IDMAP, Linux 5.12): a user namespace that holds a mapping, and
// a detached clone of a directory tree whose ids read and write through
// that mapping.
//
// It runs on the host side, in the initial user namespace: the kernel lets
// only a holder of CAP_SYS_ADMIN over a filesystem's superblock idmap a
// mount of it, which a container's init inside its own user namespace is
// not. The clones it returns are detached (open_tree(OPEN_TREE_CLONE)):
// whoever gets one attaches it with move_mount(2), in any mount namespace,
// and closing it unmounts it if it never was attached.
//
// It never attaches a mount itself, and leaves no process behind: the
// helper that holds a mapping while its namespace is opened is killed and
// reaped before UserNS returns.
package idmap
