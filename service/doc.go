// Package service is raind's shim: the start, delete, -info and -v actions,
// the long-running daemon that serves containerd's task API (v3) over
// ttrpc, its events and its exit bookkeeping.
//
// It owns the shim protocol (bootstrap parameters in, socket address out),
// the order of events (create, start, exit, delete; an exit never before
// its start; an OOM kill after the start and before the victim's exit) and
// the mapping from reaped pids to processes. The protocol
// is github.com/containerd/ttrpc and the messages are containerd's
// generated API types: the task API from the grpc-free taskv3 subpackage,
// events, bootstrap and introspection types from containerd's api module.
// It must not link containerd's pkg/shim (grpc, otel, the plugin
// registry) or its api/runtime/task/v3 (grpc, and it registers the same
// protobuf names as taskv3). It must not do kernel work itself: that
// belongs to process and runtime.
package service
