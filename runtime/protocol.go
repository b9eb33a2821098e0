package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The sync socket carries, in order:
//
//  1. one line from the C constructor: "P<pid>" once the process is in
//     its namespaces and cgroup, or "E<error>". With a new user
//     namespace a line "U<pid>" comes first, as soon as the constructor
//     has unshared it and before anything else is made in it: the
//     spawning side writes /proc/<pid>/uid_map and gid_map (and, were it
//     without CAP_SETGID, "deny" to setgroups first) and answers the one
//     byte nsenter.MapAck, after which the constructor becomes root of the
//     namespace and goes on. With a new time namespace a line "T<pid>"
//     comes once it is unshared, before the fork: the spawning side
//     writes /proc/<pid>/timens_offsets and answers nsenter.TimeAck. If
//     either cannot be written the spawning side kills the child instead
//     of answering; a request not planned, or a planned one missing, is
//     a protocol error that kills it too;
//  2. then JSON messages. spawn sends config (the initConfig: spec, rootfs,
//     the host pid and what the state of a hook needs);
//  3. an init whose spec has prestart or createRuntime hooks stops once
//     its mounts and /dev are in place, before the root switch, and sends
//     hooks; the runtime runs those hooks (in its own namespaces, with the
//     container's namespaces already there to look at) and answers
//     hooksDone, or kills the init if one failed. The init then runs the
//     createContainer hooks itself and switches the root;
//  4. the init answers ready (its set-up is complete: the user, the
//     capabilities and no_new_privs are in place and the executable
//     found) or error; an exec process skips ready and goes straight to
//     execve;
//  5. an init then waits for start; it runs the startContainer hooks and
//     calls execve;
//  6. a process whose seccomp profile notifies an agent sends, between
//     start (or config, for an exec) and execve, seccomp, whose SCM_RIGHTS
//     carry the filter's listener, and waits for seccompDone: the spawning
//     side has handed the listener to the agent (see seccomp_agent.go).
//
// A successful execve closes the socket (it is close-on-exec), which is
// how the spawning side learns the user's program is running; a child
// that fails instead sends error first.
const (
	msgConfig      = "config"
	msgHooks       = "hooks"
	msgHooksDone   = "hooksDone"
	msgReady       = "ready"
	msgStart       = "start"
	msgError       = "error"
	msgSeccomp     = "seccomp"
	msgSeccompDone = "seccompDone"
)

type message struct {
	Type  string `json:"type"`
	Error string `json:"error,omitempty"`
	// Invalid marks an error that is the caller's spec's fault.
	Invalid bool        `json:"invalid,omitempty"`
	Config  *initConfig `json:"config,omitempty"`
}

// initConfig is everything the child needs that it cannot read itself.
// The spec travels as the caller's JSON, decoded only in the child (see
// Config).
type initConfig struct {
	// Exec is set for a process joining a running container: no root
	// filesystem set-up, and no wait for a start message.
	Exec bool `json:"exec,omitempty"`
	// Spec is the container's config.json, for an init.
	Spec json.RawMessage `json:"spec,omitempty"`
	// Process is the process spec, for an exec.
	Process json.RawMessage `json:"process,omitempty"`
	Rootfs  string          `json:"rootfs,omitempty"`
	NoPivot bool            `json:"noPivot,omitempty"`
	// Keyring is the session keyring to join, or "" to keep the shim's.
	Keyring string `json:"keyring,omitempty"`
	// ConsoleFD is the child's end of the console socket, for a terminal.
	ConsoleFD int `json:"consoleFD,omitempty"`
	// Terminal, when set, overrides the process spec's terminal: the
	// caller's stdio decides (Config.SetTerminal).
	Terminal *bool `json:"terminal,omitempty"`
	// RuntimeHooks makes an init stop for the runtime's prestart and
	// createRuntime hooks (msgHooks).
	RuntimeHooks bool `json:"runtimeHooks,omitempty"`
	// ID, Bundle and Pid (the init's pid as the runtime sees it) are the
	// parts of the state the init's own hooks get that it cannot know.
	ID     string `json:"id,omitempty"`
	Bundle string `json:"bundle,omitempty"`
	Pid    int    `json:"pid,omitempty"`
	// Seccomp is the container's linux.seccomp, for an exec: the process
	// spec has none, and an exec gets the container's filter.
	Seccomp json.RawMessage `json:"seccomp,omitempty"`
	// ContainerAttrs are the container's containerAttrs, for an exec.
	ContainerAttrs json.RawMessage `json:"containerAttrs,omitempty"`
	// MountFDs are the child's fds of the id-mapped mount trees made for
	// it, by mount index (idmount.go).
	MountFDs map[int]int `json:"mountFDs,omitempty"`
}

// readReport reads one line of the constructor: its kind ('P', 'U' or 'T')
// and pid, or the error of an "E" line. It reads byte by byte so that
// nothing after the line is consumed before the JSON decoder takes over.
func readReport(r io.Reader) (byte, int, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) < 4096 {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			line = append(line, b[0])
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if len(line) > 0 {
					break
				}
				return 0, 0, errors.New("child exited before entering namespaces")
			}
			return 0, 0, err
		}
	}
	if len(line) == 0 {
		return 0, 0, errors.New("empty report from child")
	}
	switch line[0] {
	case 'E':
		return 0, 0, errors.New(string(line[1:]))
	case 'P', 'U', 'T':
		pid, err := strconv.Atoi(string(line[1:]))
		if err != nil || pid <= 0 {
			return 0, 0, fmt.Errorf("bad pid report %q", line)
		}
		return line[0], pid, nil
	}
	return 0, 0, fmt.Errorf("unexpected report %q", line)
}

func newDecoder(r io.Reader) *json.Decoder {
	return json.NewDecoder(bufio.NewReader(r))
}
