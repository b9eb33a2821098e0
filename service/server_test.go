package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"

	taskapi "github.com/raind/raind/service/taskv3"
)

// dialEnv makes the test binary, re-executed, a client that calls Connect
// on the socket named in it and reports how that went (see TestMain).
const dialEnv = "RAIND_TEST_DIAL_TASK_SOCKET"

func TestMain(m *testing.M) {
	if path := os.Getenv(dialEnv); path != "" {
		os.Exit(dialAndConnect(path))
	}
	os.Exit(m.Run())
}

// dialAndConnect is the re-executed child: 0 if the shim answered, 3 if it
// refused the connection, 1 for anything else.
func dialAndConnect(path string) int {
	conn, err := dialUnix(path)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	c := ttrpc.NewClient(conn)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = taskapi.NewTTRPCTaskClient(c).Connect(ctx, &taskapi.ConnectRequest{Id: "x"})
	switch {
	case err == nil:
		fmt.Println("connected")
		return 0
	case errors.Is(err, ttrpc.ErrClosed), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		fmt.Println("refused:", err)
		return 3
	}
	fmt.Println("connect:", err)
	return 1
}

// serveTest serves s's task API on a socket in dir and returns a client.
func serveTest(t *testing.T, s *service) taskapi.TTRPCTaskService {
	t.Helper()
	_, c := serveTestAt(t, s, t.TempDir())
	return c
}

func serveTestAt(t *testing.T, s *service, dir string) (string, taskapi.TTRPCTaskService) {
	t.Helper()
	path := filepath.Join(dir, "task.sock")
	l, err := listenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	server, err := s.newServer()
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(context.Background(), l) }()
	t.Cleanup(func() {
		_ = server.Close()
		if err := <-served; err != nil && !errors.Is(err, ttrpc.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	conn, err := dialUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	c := ttrpc.NewClient(conn)
	t.Cleanup(func() { _ = c.Close() })
	return path, taskapi.NewTTRPCTaskClient(c)
}

// TestErrorKindsCrossTheWire: the client gets the errdefs kind of the
// service's error back, as containerd's client decodes it.
func TestErrorKindsCrossTheWire(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	s.containers = map[string]*container{}
	s.creating = map[string]struct{}{}
	client := serveTest(t, s)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func() error
		kind error
	}{
		{"State of a missing container", func() error { _, err := client.State(ctx, &taskapi.StateRequest{Id: "none"}); return err }, errdefs.ErrNotFound},
		{"Kill with signal 0", func() error { _, err := client.Kill(ctx, &taskapi.KillRequest{Id: "c"}); return err }, errdefs.ErrInvalidArgument},
		{"Create without an id", func() error { _, err := client.Create(ctx, &taskapi.CreateTaskRequest{}); return err }, errdefs.ErrInvalidArgument},
		{"Checkpoint", func() error { _, err := client.Checkpoint(ctx, &taskapi.CheckpointTaskRequest{Id: "c"}); return err }, errdefs.ErrNotImplemented},
	} {
		err := errgrpc.ToNative(tc.call())
		if !errors.Is(err, tc.kind) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.kind)
		}
	}
	if resp, err := client.Connect(ctx, &taskapi.ConnectRequest{Id: "none"}); err != nil || resp.ShimPid != uint32(os.Getpid()) {
		t.Fatalf("Connect: %v %v", resp, err)
	}
}

// TestOtherUserIsRefused: only the shim's own user may drive it. The test
// binary, re-executed as another user, dials the task socket and is
// turned away; re-executed as this user, it is served.
func TestOtherUserIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	// Reachable by the other user: the directory, the socket and a copy
	// of this binary (go test builds it in a private directory).
	dir, err := os.MkdirTemp("", "raind-uid-test")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "service.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newTestService()
	defer close(s.ec)
	s.containers = map[string]*container{}
	path, _ := serveTestAt(t, s, dir)
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	dial := func(uid, gid uint32) (int, string) {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), dialEnv+"="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("run client as %d: %v", uid, err)
		}
		return cmd.ProcessState.ExitCode(), strings.TrimSpace(string(out))
	}
	if code, out := dial(0, 0); code != 0 {
		t.Fatalf("the shim's own user: exit %d: %s", code, out)
	}
	if code, out := dial(65534, 65534); code != 3 {
		t.Fatalf("another user: exit %d (%s), want refused", code, out)
	}
}
