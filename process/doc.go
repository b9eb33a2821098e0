// Package process owns the lifecycles of a container's processes inside the
// shim: the init (created, running, stopped, deleted) and exec processes,
// each with its stdio, exit status and the transitions allowed between
// states.
//
// It must not publish events or reap children: the service does both, and
// tells a process it exited through SetExited.
package process
