package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/raind/raind/runtime/seccomp"
)

// initSeccomp is the init's seccomp filter: compiled while the container
// is prepared, so that a bad profile fails Create (or Exec), and loaded
// by execProcess just before or after the credential change (see there).
type initSeccomp struct {
	filter *seccomp.Filter
	conn   *net.UnixConn
	dec    *json.Decoder
}

// compileSeccomp compiles the profile this process runs under: the spec's
// for an init, the container's (sent in the config) for an exec. conn and
// dec are the sync socket, over which a notify listener goes.
func compileSeccomp(cfg *initConfig, spec *specs.Spec, conn net.Conn, dec *json.Decoder) (*initSeccomp, error) {
	var profile *specs.LinuxSeccomp
	switch {
	case cfg.Exec && present(cfg.Seccomp):
		profile = new(specs.LinuxSeccomp)
		if err := json.Unmarshal(cfg.Seccomp, profile); err != nil {
			return nil, fmt.Errorf("container's seccomp profile: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	case !cfg.Exec && spec.Linux != nil:
		profile = spec.Linux.Seccomp
	}
	f, err := seccomp.Compile(profile)
	if err != nil || f == nil {
		return nil, err
	}
	s := &initSeccomp{filter: f, dec: dec}
	if f.Notify() {
		uc, ok := conn.(*net.UnixConn)
		if !ok {
			return nil, errors.New("seccomp notify: the sync socket is not a unix socket")
		}
		s.conn = uc
	}
	return s, nil
}

// load installs the filter on this thread and hands a notify listener to
// the spawning side, waiting until the agent has it: the user's program
// must not run before its agent can answer. A nil s loads nothing.
func (s *initSeccomp) load() error {
	if s == nil {
		return nil
	}
	l, err := s.filter.Load()
	if err != nil || l == nil {
		return err
	}
	defer l.Close()
	data, err := json.Marshal(message{Type: msgSeccomp})
	if err != nil {
		return err
	}
	// One sendmsg: the listener travels with the message's first byte.
	if _, _, err := s.conn.WriteMsgUnix(append(data, '\n'), unix.UnixRights(int(l.Fd())), nil); err != nil {
		return fmt.Errorf("send seccomp listener: %w", err)
	}
	var m message
	if err := s.dec.Decode(&m); err != nil {
		return fmt.Errorf("waiting for the seccomp agent hand-over: %w", err)
	}
	if m.Type != msgSeccompDone {
		return fmt.Errorf("unexpected message %q during the seccomp agent hand-over", m.Type)
	}
	return nil
}
