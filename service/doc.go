// Package service is raind's shim: the start, delete, -info and -v actions,
// the long-running daemon that serves containerd's task API (v3) over
// ttrpc, its events and its exit bookkeeping.
//
// It owns the shim protocol (bootstrap parameters in, socket address out),
// the order of events (create, start, exit, delete; an exit never before
// its start) and the mapping from reaped pids to processes. The wire format
// lives in its subpackages taskpb and wire, written here rather than taken
// from containerd's pkg/shim and API packages because those link grpc and
// the protobuf reflection runtime into every shim process (BENCHMARKS.md
// has the cost). It must not do kernel work itself: that belongs to
// process and runtime.
package service
