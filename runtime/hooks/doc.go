// Package hooks owns running OCI hooks (runtime-spec config.md,
// "POSIX-platform Hooks"): one hook program at a time, with the container's
// state JSON on its stdin, exactly its path, args and env, bounded by its
// timeout (SIGKILL when it runs past it), and reaped.
//
// It must not decide when a hook runs or in which namespaces: its callers
// do (the runtime for prestart, createRuntime, poststart and poststop; the
// container's init for createContainer and startContainer), and call it
// from the right process at the right moment. It must not wait(2) on its
// children itself where a reaper owns that: it starts and waits through
// the Monitor its caller gives it, which in the shim is containerd's
// reaper.
package hooks
