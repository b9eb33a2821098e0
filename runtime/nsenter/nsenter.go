// Package nsenter enters a container's cgroup and namespaces from a C
// constructor, before the Go runtime starts its threads.
//
// Importing it (for side effects) is all a binary needs; the constructor
// acts only when the spawning side set its environment, which Env builds.
// It must not do anything else: everything after namespace entry belongs to
// the Go code of the runtime package.
package nsenter

// #cgo CFLAGS: -Wall -Werror -std=gnu11
import "C"

import (
	"fmt"
	"strings"
)

// Environment variables read by the constructor.
const (
	EnvSyncFD   = "_RAIND_SYNC_FD"
	envCgroups  = "_RAIND_CGROUP_PROCS"
	envJoin     = "_RAIND_NS_JOIN"
	envNew      = "_RAIND_NS_NEW"
	envFork     = "_RAIND_FORK"
	maxNSToJoin = 16
)

// Request says what the constructor does, in this order: write "0" to each
// CgroupProcs file, setns into each Join path (in the order given), unshare
// NewFlags, and fork when Fork is set so that a new or joined pid namespace
// applies to the container process.
type Request struct {
	SyncFD      int
	CgroupProcs []string
	Join        []string
	NewFlags    uintptr
	Fork        bool
}

// Env renders r as environment entries for the child.
func (r Request) Env() ([]string, error) {
	if r.SyncFD < 3 {
		return nil, fmt.Errorf("sync fd %d: must be an inherited fd above stdio", r.SyncFD)
	}
	if len(r.Join) > maxNSToJoin {
		return nil, fmt.Errorf("%d namespaces to join: at most %d", len(r.Join), maxNSToJoin)
	}
	for _, p := range append(append([]string{}, r.CgroupProcs...), r.Join...) {
		if p == "" || strings.ContainsAny(p, "\n\x00") {
			return nil, fmt.Errorf("path %q cannot be passed to the constructor", p)
		}
	}
	env := []string{fmt.Sprintf("%s=%d", EnvSyncFD, r.SyncFD)}
	if len(r.CgroupProcs) > 0 {
		env = append(env, envCgroups+"="+strings.Join(r.CgroupProcs, "\n"))
	}
	if len(r.Join) > 0 {
		env = append(env, envJoin+"="+strings.Join(r.Join, "\n"))
	}
	if r.NewFlags != 0 {
		env = append(env, fmt.Sprintf("%s=0x%x", envNew, r.NewFlags))
	}
	if r.Fork {
		env = append(env, envFork+"=1")
	}
	return env, nil
}
