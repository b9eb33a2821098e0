package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/raind/raind/runtime/seccomp"
)

// seccompView is what the spawning side reads of linux.seccomp: where
// the agent for SCMP_ACT_NOTIFY listens. The init compiles the rest.
type seccompView struct {
	ListenerPath     string `json:"listenerPath"`
	ListenerMetadata string `json:"listenerMetadata"`
}

// seccompAgent is the agent a process's notify listener goes to, and the
// container state it is told (its pid and status are filled in per
// process).
type seccompAgent struct {
	listenerPath string
	metadata     string
	state        specs.State
}

// newSeccompAgent reads the agent of a container's raw linux.seccomp; nil
// when the profile names none.
func newSeccompAgent(raw json.RawMessage, id, bundle string, annotations map[string]string) (*seccompAgent, error) {
	if !present(raw) {
		return nil, nil
	}
	var v seccompView
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("linux.seccomp: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if v.ListenerPath == "" {
		return nil, nil
	}
	return &seccompAgent{
		listenerPath: v.ListenerPath,
		metadata:     v.ListenerMetadata,
		state:        specs.State{Version: specs.Version, ID: id, Bundle: bundle, Annotations: annotations},
	}, nil
}

// forProcess is the agent for one process, given the container's state
// at the time.
func (a *seccompAgent) forProcess(status specs.ContainerState, initPid int) *seccompAgent {
	if a == nil {
		return nil
	}
	c := *a
	c.state.Status = status
	c.state.Pid = initPid
	return &c
}

// fdReader reads the sync socket keeping the fds that arrive with the
// data (a plain read would discard them): the decoder may read ahead over
// the message that carries them.
type fdReader struct {
	conn *net.UnixConn
	oob  []byte
	fds  []int
}

func (r *fdReader) Read(b []byte) (int, error) {
	n, oobn, _, _, err := r.conn.ReadMsgUnix(b, r.oob)
	if oobn > 0 {
		// Go receives with MSG_CMSG_CLOEXEC: nothing we spawn inherits them.
		msgs, perr := unix.ParseSocketControlMessage(r.oob[:oobn])
		if perr == nil {
			for _, m := range msgs {
				if fds, err := unix.ParseUnixRights(&m); err == nil {
					r.fds = append(r.fds, fds...)
				}
			}
		}
	}
	return n, err
}

// take returns the oldest fd received, as a file the caller owns.
func (r *fdReader) take() (*os.File, error) {
	if len(r.fds) == 0 {
		return nil, errors.New("the seccomp message carried no listener")
	}
	fd := r.fds[0]
	r.fds = r.fds[1:]
	return os.NewFile(uintptr(fd), "seccomp-listener"), nil
}

// close closes the fds nobody took.
func (r *fdReader) close() {
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	r.fds = nil
}

// syncReader is what a process's decoder reads: the socket itself, or,
// for a process that may send a notify listener, an fdReader over it.
func syncReader(conn net.Conn, agent *seccompAgent) (io.Reader, *fdReader) {
	uc, ok := conn.(*net.UnixConn)
	if agent == nil || !ok {
		return conn, nil
	}
	r := &fdReader{conn: uc, oob: make([]byte, unix.CmsgSpace(4*4))}
	return r, r
}

// handOverListener takes the listener the process just sent, gives it to
// the agent with the container's state, closes our copy and lets the
// process go on to execve.
func (p *Process) handOverListener(ctx context.Context) error {
	if p.agent == nil || p.fds == nil {
		return errors.New("unexpected seccomp listener: the profile names no agent")
	}
	l, err := p.fds.take()
	if err != nil {
		return err
	}
	state := p.agent.state
	if state.Pid == 0 {
		// The container's init itself: its pid was not known before.
		state.Pid = p.pid
	}
	err = seccomp.SendToAgent(ctx, p.agent.listenerPath, specs.ContainerProcessState{
		Version:  specs.Version,
		Pid:      p.pid,
		Metadata: p.agent.metadata,
		State:    state,
	}, l)
	l.Close()
	if err != nil {
		return err
	}
	if err := json.NewEncoder(p.conn).Encode(message{Type: msgSeccompDone}); err != nil {
		return fmt.Errorf("resume %d after the seccomp hand-over: %w", p.pid, err)
	}
	return nil
}
