package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The sync socket carries, in order: one line from the C constructor ("P<pid>"
// or "E<error>"), then JSON messages. The spawning side sends the config; the
// init answers ready or error; an init process then waits for start. A
// successful execve closes the socket (it is close-on-exec), which is how
// the spawning side learns the user's program is running.
const (
	msgConfig = "config"
	msgReady  = "ready"
	msgStart  = "start"
	msgError  = "error"
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
	// ConsoleFD is the child's end of the console socket, for a terminal.
	ConsoleFD int `json:"consoleFD,omitempty"`
	// ContainerAttrs are the container's containerAttrs, for an exec.
	ContainerAttrs json.RawMessage `json:"containerAttrs,omitempty"`
}

// readPidLine reads the constructor's report. It reads byte by byte so that
// nothing after the line is consumed before the JSON decoder takes over.
func readPidLine(r io.Reader) (int, error) {
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
				return 0, errors.New("child exited before entering namespaces")
			}
			return 0, err
		}
	}
	if len(line) == 0 {
		return 0, errors.New("empty report from child")
	}
	switch line[0] {
	case 'E':
		return 0, errors.New(string(line[1:]))
	case 'P':
		pid, err := strconv.Atoi(string(line[1:]))
		if err != nil || pid <= 0 {
			return 0, fmt.Errorf("bad pid report %q", line)
		}
		return pid, nil
	}
	return 0, fmt.Errorf("unexpected report %q", line)
}

func newDecoder(r io.Reader) *json.Decoder {
	return json.NewDecoder(bufio.NewReader(r))
}
