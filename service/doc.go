// Package service is raind's shim: the shim.Shim manager behind the start,
// delete and -info actions, and the containerd task ttrpc service (v3) with
// its events and exit bookkeeping.
//
// It owns the order of events (create, start, exit, delete; an exit never
// before its start) and the mapping from reaped pids to processes. It must
// not do kernel work itself: that belongs to process and runtime.
package service
