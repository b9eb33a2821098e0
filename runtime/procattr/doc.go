// Package procattr parses and applies the per-process kernel attributes a
// runtime-spec asks for beyond credentials: the scheduling policy
// (process.scheduler), the I/O priority (process.ioPriority), the execution
// domain (linux.personality), the NUMA memory policy (linux.memoryPolicy)
// and the CPU affinity of an exec'd process (process.execCPUAffinity).
//
// Parsing is pure and runs on the creating side, so a bad value is an
// InvalidArgument naming the field before anything is started. The Set
// functions act on the calling OS thread only (sched_setattr, ioprio_set,
// set_mempolicy and sched_setaffinity with pid 0 are per thread): the
// container init calls them from the locked thread that then runs execve,
// which keeps them for the user's program. It must not do mounts,
// namespaces or credentials.
package procattr
