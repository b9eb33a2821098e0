// Package lsm applies the Linux security module settings of a container
// process: its AppArmor profile (process.apparmorProfile), its SELinux
// process label (process.selinuxLabel) and the SELinux label of the
// container's mounts (linux.mountLabel).
//
// It follows what runc does, host by host. AppArmor: the profile is
// requested with "exec <profile>" in the thread's attr/apparmor/exec (or
// the older attr/exec) before execve, whether or not the host runs
// AppArmor, so that a host without it refuses the write and the container
// with it (runc's libcontainer/apparmor.ApplyProfile). SELinux: a process
// label on a host without SELinux is refused up front (runc's
// validateProcessSpec and configs/validate.security); with SELinux, the
// label is set as the exec label. A mount label is added as context= to
// the tmpfs mounts and masks runc labels (label.FormatMountLabel, which,
// as in runc, does not look at whether SELinux is on: a kernel without it
// then refuses the mount).
//
// It must not mount, or change credentials or namespaces.
package lsm
