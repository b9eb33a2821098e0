// Package netdev moves host network interfaces into a container's network
// namespace (linux.netDevices), renamed as the spec asks, with their
// permanent global addresses and up.
//
// It runs on the creating side, in the host's network namespace, once the
// container's init has its own and before the user's program starts. It
// never moves a device back: the runtime-spec forbids it (config-linux.md,
// "Namespace Lifecycle and Container Termination"), and runc does not
// either. When the namespace goes away the kernel returns physical devices
// to the host and destroys virtual ones. It must not move a shared thread
// into the container's namespace: the one socket it needs there is created
// on a thread that is thrown away afterwards.
package netdev
