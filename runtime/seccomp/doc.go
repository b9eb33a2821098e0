// Package seccomp owns a container's seccomp filter: it compiles a
// runtime-spec seccomp profile into a BPF program with libseccomp, loads
// that program with seccomp(2) on the calling thread (so that every
// filter flag works, including the ones libseccomp does not know), reports
// what raind supports (Features), and hands a SCMP_ACT_NOTIFY listener to
// the profile's seccomp agent.
//
// It must not decide when in a container's set-up the filter is loaded
// (the init does, around its credential changes), change credentials,
// capabilities or no_new_privs, or keep anything of libseccomp's beyond
// Compile: the program it returns is plain memory.
package seccomp
