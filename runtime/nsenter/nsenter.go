// Package nsenter enters a container's cgroup and namespaces from a C
// constructor, before the Go runtime starts its threads.
//
// Importing it (for side effects) is all a binary needs; the constructor
// acts only when the spawning side set its environment, which Env builds.
// The package also holds the spawning side's part of namespace entry that
// only a process outside can do (Maps, WriteTimeOffsets: a new user
// namespace's id maps, a new time namespace's offsets). It must not do
// anything else: everything after namespace entry belongs to the Go code
// of the runtime package.
package nsenter

// #cgo CFLAGS: -Wall -Werror -std=gnu11
import "C"

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Environment variables read by the constructor.
const (
	EnvSyncFD   = "_RAIND_SYNC_FD"
	envCgroups  = "_RAIND_CGROUP_PROCS"
	envJoin     = "_RAIND_NS_JOIN"
	envNew      = "_RAIND_NS_NEW"
	envFork     = "_RAIND_FORK"
	envUserNS   = "_RAIND_USERNS"
	envTimeNS   = "_RAIND_TIMENS_OFFSETS"
	envOOM      = "_RAIND_OOM_SCORE_ADJ"
	maxNSToJoin = 16
)

// UserNS says whether the process ends up in a user namespace other than
// the caller's.
type UserNS int

const (
	// NoUserNS keeps the caller's user namespace.
	NoUserNS UserNS = iota
	// JoinUserNS: one of the Join paths is a user namespace.
	JoinUserNS
	// NewUserNS unshares a new user namespace, whose maps the spawning
	// side writes when the constructor asks (see MapRequest).
	NewUserNS
)

// Request says what the constructor does, in this order: set OOMScoreAdj;
// write "0" to each
// CgroupProcs file; with a user namespace, drop the supplementary groups;
// setns into the Join paths (all but a user namespace, then a user
// namespace, then those that needed its privileges; see nsenter.c); with
// NewUserNS unshare a user namespace and wait for its maps; unshare
// NewFlags; write TimeOffsets for a new time namespace; and fork when
// Fork is set so that a new or joined pid namespace, or a new time
// namespace, applies to the container process.
type Request struct {
	SyncFD int
	// OOMScoreAdj is the process's oom_score_adj, or nil to inherit ours.
	// It is set first, as host root: a negative one could not be set in
	// a user namespace.
	OOMScoreAdj *int
	CgroupProcs []string
	Join        []string
	UserNS      UserNS
	NewFlags    uintptr
	// TimeOffsets is the content of /proc/<pid>/timens_offsets for a
	// new time namespace (CLONE_NEWTIME in NewFlags), one "<clock> <secs>
	// <nanosecs>" line a clock. The spawning side writes it when the
	// constructor asks.
	TimeOffsets string
	Fork        bool
}

// MapAck is the byte the spawning side answers a "U<pid>" line with,
// once the maps are written; TimeAck answers "T<pid>" once the time
// offsets are.
const (
	MapAck  = 'M'
	TimeAck = 'T'
)

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
	if r.NewFlags&unix.CLONE_NEWUSER != 0 {
		return nil, fmt.Errorf("a new user namespace is UserNS, not a flag: its maps need the handshake")
	}
	if r.TimeOffsets != "" && (r.NewFlags&unix.CLONE_NEWTIME == 0 || !r.Fork) {
		return nil, fmt.Errorf("time offsets need a new time namespace and a fork")
	}
	env := []string{fmt.Sprintf("%s=%d", EnvSyncFD, r.SyncFD)}
	if r.OOMScoreAdj != nil {
		env = append(env, fmt.Sprintf("%s=%d", envOOM, *r.OOMScoreAdj))
	}
	switch r.UserNS {
	case NoUserNS:
	case JoinUserNS:
		env = append(env, envUserNS+"=join")
	case NewUserNS:
		env = append(env, envUserNS+"=new")
	default:
		return nil, fmt.Errorf("unknown user namespace mode %d", r.UserNS)
	}
	if len(r.CgroupProcs) > 0 {
		env = append(env, envCgroups+"="+strings.Join(r.CgroupProcs, "\n"))
	}
	if len(r.Join) > 0 {
		env = append(env, envJoin+"="+strings.Join(r.Join, "\n"))
	}
	if r.NewFlags != 0 {
		env = append(env, fmt.Sprintf("%s=0x%x", envNew, r.NewFlags))
	}
	if r.TimeOffsets != "" {
		// The constructor only asks; the spawning side writes them.
		env = append(env, envTimeNS+"=1")
	}
	if r.Fork {
		env = append(env, envFork+"=1")
	}
	return env, nil
}
