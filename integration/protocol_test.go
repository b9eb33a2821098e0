package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	eventsapi "github.com/containerd/containerd/api/events"
	bootstrap "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	eventsv1 "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// eventSink is containerd's ttrpc events service, served with containerd's
// generated code: it decodes every event it is sent.
type eventSink struct {
	t      *testing.T
	events chan any
}

func (s *eventSink) Forward(ctx context.Context, r *eventsv1.ForwardRequest) (*emptypb.Empty, error) {
	v, err := typeurl.UnmarshalAny(r.Envelope.GetEvent())
	if err != nil {
		s.t.Errorf("event on %s: %v", r.Envelope.GetTopic(), err)
		return &emptypb.Empty{}, nil
	}
	if r.Envelope.GetNamespace() != testNamespace {
		s.t.Errorf("event %T in namespace %q", v, r.Envelope.GetNamespace())
	}
	s.events <- v
	return &emptypb.Empty{}, nil
}

// next returns the next task lifecycle event (exec and OOM events aside).
func (s *eventSink) next(t *testing.T) any {
	t.Helper()
	for {
		select {
		case v := <-s.events:
			switch v.(type) {
			case *eventsapi.TaskCreate, *eventsapi.TaskStart, *eventsapi.TaskExit, *eventsapi.TaskDelete:
				return v
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no event")
			return nil
		}
	}
}

// serveEvents serves a fake containerd events service on a socket in dir.
func serveEvents(t *testing.T, dir string) (string, *eventSink) {
	t.Helper()
	path := filepath.Join(dir, "events.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	server, err := ttrpc.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	sink := &eventSink{t: t, events: make(chan any, 64)}
	eventsv1.RegisterTTRPCEventsService(server, sink)
	go func() { _ = server.Serve(context.Background(), l) }()
	t.Cleanup(func() { _ = server.Close() })
	return path, sink
}

// TestShimWithContainerdClient drives the shim the way containerd does,
// with containerd's own generated code and none of raind's: the start
// action with real bootstrap parameters, the task API v3 through
// containerd's ttrpc task client, events into containerd's events service,
// and the delete action's answer.
func TestShimWithContainerdClient(t *testing.T) {
	id := newID("proto")
	// Short: the shim's socket name (64 hex digits) must fit in a
	// sockaddr_un.
	dir, err := os.MkdirTemp("", "rdp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	eventsSock, sink := serveEvents(t, dir)

	rootfs := copyRootfs(t)
	bundle := filepath.Dir(rootfs)
	nsCtx := namespaces.WithNamespace(context.Background(), testNamespace)
	spec, err := oci.GenerateSpec(nsCtx, nil, &containers.Container{ID: id}, oci.WithRootFSPath("rootfs"), oci.WithProcessArgs("sleep", "100"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}

	// start: bootstrap parameters in, the socket's address out.
	grpcAddress := filepath.Join(dir, "containerd.sock")
	params, err := proto.Marshal(&bootstrap.BootstrapParams{
		InstanceID:             id,
		Namespace:              testNamespace,
		LogLevel:               bootstrap.LogLevel_LOG_LEVEL_INFO,
		ContainerdVersion:      "v2.4.2",
		ContainerdTtrpcAddress: "unix://" + eventsSock,
		ContainerdGrpcAddress:  grpcAddress,
		SocketDir:              proto.String(filepath.Join(dir, "s")),
	})
	if err != nil {
		t.Fatal(err)
	}
	start := exec.Command(shimBinary(), "-namespace", testNamespace, "-id", id, "-address", grpcAddress, "start")
	start.Dir = bundle
	start.Stdin = bytes.NewReader(params)
	var stderr bytes.Buffer
	start.Stderr = &stderr
	out, err := start.Output()
	if err != nil {
		t.Fatalf("start: %v: %s", err, stderr.String())
	}
	var result bootstrap.BootstrapResult
	if err := proto.Unmarshal(out, &result); err != nil {
		t.Fatalf("start's answer %q: %v", out, err)
	}
	if result.Version != 3 || result.Protocol != "ttrpc" || !strings.HasPrefix(result.Address, "unix://"+filepath.Join(dir, "s")+"/") {
		t.Fatalf("start answered %v", &result)
	}
	shimPid := readPid(t, filepath.Join(bundle, "shim.pid"))
	t.Cleanup(func() {
		// Only if the test failed before Shutdown: the shim is ours.
		if processAlive(shimPid) {
			_ = syscall.Kill(shimPid, syscall.SIGKILL)
		}
	})

	conn, err := net.Dial("unix", strings.TrimPrefix(result.Address, "unix://"))
	if err != nil {
		t.Fatal(err)
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	task := taskAPI.NewTTRPCTaskClient(client)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if _, err := task.State(ctx, &taskAPI.StateRequest{ID: "no-such-container"}); !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Fatalf("State of a missing container: %v, want NotFound", err)
	}
	created, err := task.Create(ctx, &taskAPI.CreateTaskRequest{ID: id, Bundle: bundle})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	initPid := created.Pid
	if ev, ok := sink.next(t).(*eventsapi.TaskCreate); !ok || ev.ContainerID != id || ev.Pid != initPid || ev.Bundle != bundle {
		t.Fatalf("after Create: %v", ev)
	}
	connected, err := task.Connect(ctx, &taskAPI.ConnectRequest{ID: id})
	if err != nil || connected.ShimPid != uint32(shimPid) || connected.TaskPid != initPid {
		t.Fatalf("Connect: %v %v (shim %d, init %d)", connected, err, shimPid, initPid)
	}
	if started, err := task.Start(ctx, &taskAPI.StartRequest{ID: id}); err != nil || started.Pid != initPid {
		t.Fatalf("Start: %v %v", started, err)
	}
	if ev, ok := sink.next(t).(*eventsapi.TaskStart); !ok || ev.ContainerID != id || ev.Pid != initPid {
		t.Fatalf("after Start: %v", ev)
	}
	state, err := task.State(ctx, &taskAPI.StateRequest{ID: id})
	if err != nil || state.Status != tasktypes.Status_RUNNING || state.Pid != initPid || state.Bundle != bundle {
		t.Fatalf("State: %v %v", state, err)
	}
	pids, err := task.Pids(ctx, &taskAPI.PidsRequest{ID: id})
	if err != nil || len(pids.Processes) != 1 || pids.Processes[0].Pid != initPid {
		t.Fatalf("Pids: %v %v", pids, err)
	}

	waited := make(chan *taskAPI.WaitResponse, 1)
	go func() {
		w, err := task.Wait(ctx, &taskAPI.WaitRequest{ID: id})
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		waited <- w
	}()
	if _, err := task.Kill(ctx, &taskAPI.KillRequest{ID: id, Signal: uint32(syscall.SIGKILL)}); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	w := <-waited
	if w == nil || w.ExitStatus != 137 || w.ExitedAt == nil {
		t.Fatalf("Wait answered %v", w)
	}
	if ev, ok := sink.next(t).(*eventsapi.TaskExit); !ok || ev.ContainerID != id || ev.ID != id || ev.Pid != initPid || ev.ExitStatus != 137 {
		t.Fatalf("after Kill: %v", ev)
	}
	if state, err := task.State(ctx, &taskAPI.StateRequest{ID: id}); err != nil || state.Status != tasktypes.Status_STOPPED || state.ExitStatus != 137 {
		t.Fatalf("State after exit: %v %v", state, err)
	}
	deleted, err := task.Delete(ctx, &taskAPI.DeleteRequest{ID: id})
	if err != nil || deleted.Pid != initPid || deleted.ExitStatus != 137 {
		t.Fatalf("Delete: %v %v", deleted, err)
	}
	if ev, ok := sink.next(t).(*eventsapi.TaskDelete); !ok || ev.ContainerID != id || ev.Pid != initPid || ev.ExitStatus != 137 {
		t.Fatalf("after Delete: %v", ev)
	}
	if _, err := task.Shutdown(ctx, &taskAPI.ShutdownRequest{ID: id}); err != nil && !errors.Is(err, ttrpc.ErrClosed) {
		t.Fatalf("Shutdown: %v", err)
	}
	waitFor(t, "the shim to exit after Shutdown", func() bool { return !processAlive(shimPid) })

	// delete: containerd's cleanup after a shim, answered with the
	// task API's DeleteResponse.
	del := exec.Command(shimBinary(), "-namespace", testNamespace, "-address", grpcAddress, "-id", id, "-bundle", bundle, "delete")
	del.Dir = bundle
	out, err = del.Output()
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	var resp taskAPI.DeleteResponse
	if err := proto.Unmarshal(out, &resp); err != nil || resp.Pid != initPid || resp.ExitStatus != 137 || resp.ExitedAt == nil {
		t.Fatalf("delete answered %v (%v), want the init's pid %d", &resp, err, initPid)
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pid
}

// processAlive: the process exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
