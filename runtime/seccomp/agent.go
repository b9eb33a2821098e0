package seccomp

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// agentTimeout bounds the hand-over when ctx has no deadline: an agent
// that accepts but never reads must not hold a container's start forever.
const agentTimeout = 10 * time.Second

// SendToAgent hands a notify listener to the seccomp agent listening on
// listenerPath, as the runtime-spec describes: one message on a new
// connection whose data is the container process state (the listener's
// place in state.Fds named "seccompFd") and whose SCM_RIGHTS carry the
// fds. The caller keeps, and closes, its copy of listener.
func SendToAgent(ctx context.Context, listenerPath string, state specs.ContainerProcessState, listener *os.File) error {
	state.Fds = []string{specs.SeccompFdName}
	if state.Version == "" {
		state.Version = specs.Version
	}
	data, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("seccomp agent state: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, agentTimeout)
		defer cancel()
	}
	// DialUnix, not DialContext: the generic dialer brings the name
	// resolver into the binary (100 KB that every shim maps).
	var d net.Dialer
	conn, err := d.DialUnix(ctx, "unix", nil, &net.UnixAddr{Name: listenerPath, Net: "unix"})
	if err != nil {
		return fmt.Errorf("seccomp agent %s: %v: %w", listenerPath, err, errdefs.ErrUnavailable)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetWriteDeadline(deadline); err != nil {
		return fmt.Errorf("seccomp agent %s: %w", listenerPath, err)
	}
	n, _, err := conn.WriteMsgUnix(data, unix.UnixRights(int(listener.Fd())), nil)
	if err == nil && n != len(data) {
		err = fmt.Errorf("short write (%d of %d bytes)", n, len(data))
	}
	if err != nil {
		return fmt.Errorf("seccomp agent %s: send state and listener: %v: %w", listenerPath, err, errdefs.ErrUnavailable)
	}
	return nil
}
