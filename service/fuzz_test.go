package service

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	bootstrap "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	taskapi "github.com/raind/raind/service/taskv3"
)

// fuzzCallTimeout bounds one task call: none of them may block on a
// shim without containers.
const fuzzCallTimeout = 10 * time.Second

// fuzzService is a service with no containers whose Create can run
// nothing: its bundle is replaced by one whose spec is refused, and its
// init binary does not exist.
func fuzzService(f *testing.F) (*service, string) {
	s := newTestService()
	f.Cleanup(func() { close(s.ec) })
	s.namespace = "fuzz"
	s.containers = map[string]*container{}
	s.creating = map[string]struct{}{}
	s.shutdown = make(chan struct{})
	s.init = "/nonexistent/raind-init"
	bundle := f.TempDir()
	spec := `{"process":{"args":["true"]},"root":{"path":"rootfs"},"linux":{"intelRdt":{"closID":"x"}}}`
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(spec), 0o600); err != nil {
		f.Fatal(err)
	}
	return s, bundle
}

// taskMethod is one task API method: its request type and the call.
type taskMethod struct {
	name string
	req  func() proto.Message
	call func(ctx context.Context, s *service, m proto.Message) error
}

func taskMethods(bundle string) []taskMethod {
	m := func(name string, req func() proto.Message, call func(context.Context, *service, proto.Message) error) taskMethod {
		return taskMethod{name, req, call}
	}
	return []taskMethod{
		m("Create", func() proto.Message { return &taskapi.CreateTaskRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			req := r.(*taskapi.CreateTaskRequest)
			// Never a bundle of the fuzzer's choosing: one with a valid
			// spec would create a container.
			req.Bundle = bundle
			_, err := s.Create(ctx, req)
			return err
		}),
		m("Start", func() proto.Message { return &taskapi.StartRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.Start(ctx, r.(*taskapi.StartRequest))
			return err
		}),
		m("Delete", func() proto.Message { return &taskapi.DeleteRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.Delete(ctx, r.(*taskapi.DeleteRequest))
			return err
		}),
		m("Exec", func() proto.Message { return &taskapi.ExecProcessRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.Exec(ctx, r.(*taskapi.ExecProcessRequest))
			return err
		}),
		m("ResizePty", func() proto.Message { return &taskapi.ResizePtyRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.ResizePty(ctx, r.(*taskapi.ResizePtyRequest))
			return err
		}),
		m("State", func() proto.Message { return &taskapi.StateRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.State(ctx, r.(*taskapi.StateRequest))
			return err
		}),
		m("Kill", func() proto.Message { return &taskapi.KillRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.Kill(ctx, r.(*taskapi.KillRequest))
			return err
		}),
		m("CloseIO", func() proto.Message { return &taskapi.CloseIORequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.CloseIO(ctx, r.(*taskapi.CloseIORequest))
			return err
		}),
		m("Pids", func() proto.Message { return &taskapi.PidsRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.Pids(ctx, r.(*taskapi.PidsRequest))
			return err
		}),
		m("Checkpoint", func() proto.Message { return &taskapi.CheckpointTaskRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.Checkpoint(ctx, r.(*taskapi.CheckpointTaskRequest))
			return err
		}),
		m("Update", func() proto.Message { return &taskapi.UpdateTaskRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.Update(ctx, r.(*taskapi.UpdateTaskRequest))
			return err
		}),
		m("Shutdown", func() proto.Message { return &taskapi.ShutdownRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.Shutdown(ctx, r.(*taskapi.ShutdownRequest))
			return err
		}),
		m("Stats", func() proto.Message { return &taskapi.StatsRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.Stats(ctx, r.(*taskapi.StatsRequest))
			return err
		}),
		m("Connect", func() proto.Message { return &taskapi.ConnectRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.Connect(ctx, r.(*taskapi.ConnectRequest))
			return err
		}),
		m("Wait", func() proto.Message { return &taskapi.WaitRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.Wait(ctx, r.(*taskapi.WaitRequest))
			return err
		}),
		m("Pause", func() proto.Message { return &taskapi.PauseRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.Pause(ctx, r.(*taskapi.PauseRequest))
			return err
		}),
		m("Resume", func() proto.Message { return &taskapi.ResumeRequest{} }, func(ctx context.Context, s *service, r proto.Message) error {
			_, err := s.Resume(ctx, r.(*taskapi.ResumeRequest))
			return err
		}),
	}
}

// sampleRequests are well-formed requests, the seeds for every method.
func sampleRequests(t testing.TB) map[string]proto.Message {
	anyOf := func(m proto.Message) *anypb.Any {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	spec := &anypb.Any{TypeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Process", Value: []byte(`{"args":["sh"],"cwd":"/","terminal":true}`)}
	return map[string]proto.Message{
		"Create": &taskapi.CreateTaskRequest{Id: "c", Bundle: "/b", Rootfs: []*types.Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/a:/b", "upperdir=/u", "workdir=/w"}}},
			Stdout: "binary:///logger?x=1", Options: anyOf(&runcoptions.Options{SystemdCgroup: true, IoUid: 1})},
		"Start":      &taskapi.StartRequest{Id: "c", ExecId: "e"},
		"Delete":     &taskapi.DeleteRequest{Id: "c"},
		"Exec":       &taskapi.ExecProcessRequest{Id: "c", ExecId: "e", Terminal: true, Spec: spec},
		"ResizePty":  &taskapi.ResizePtyRequest{Id: "c", ExecId: "e", Width: 80, Height: 25},
		"State":      &taskapi.StateRequest{Id: "c", ExecId: "e"},
		"Kill":       &taskapi.KillRequest{Id: "c", Signal: 9, All: true},
		"CloseIO":    &taskapi.CloseIORequest{Id: "c", Stdin: true},
		"Pids":       &taskapi.PidsRequest{Id: "c"},
		"Checkpoint": &taskapi.CheckpointTaskRequest{Id: "c", Path: "/cp"},
		"Update":     &taskapi.UpdateTaskRequest{Id: "c", Resources: &anypb.Any{TypeUrl: resourcesTypeURL, Value: []byte(`{"memory":{"limit":1}}`)}},
		"Shutdown":   &taskapi.ShutdownRequest{Id: "c", Now: true},
		"Stats":      &taskapi.StatsRequest{Id: "c"},
		"Connect":    &taskapi.ConnectRequest{Id: "c"},
		"Wait":       &taskapi.WaitRequest{Id: "c", ExecId: "e"},
		"Pause":      &taskapi.PauseRequest{Id: "c"},
		"Resume":     &taskapi.ResumeRequest{Id: "c"},
	}
}

// checkKind fails t unless err carries an errdefs kind (a context error
// counts: errdefs maps it to Canceled or DeadlineExceeded).
func checkKind(t *testing.T, what string, err error) {
	t.Helper()
	if errors.Is(errdefs.Resolve(err), errdefs.ErrUnknown) {
		t.Fatalf("%s: %v (%T): not an errdefs kind", what, err, err)
	}
}

// settleGoroutines fails t if the goroutine count does not come back to
// at most before within a few seconds: a request left something running.
func settleGoroutines(t *testing.T, what string, before int) {
	t.Helper()
	// Generous: a connection's goroutines end once the server has seen
	// the close, which can take a while under -race on a busy machine.
	deadline := time.Now().Add(15 * time.Second)
	for goruntime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%s: %d goroutines, %d before:\n%s", what, goruntime.NumGoroutine(), before, buf[:goruntime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FuzzTaskRequest decodes arbitrary bytes as the request of a task method
// and calls it on a shim with no containers: no panic, no hang, no
// goroutine left behind, and every error an errdefs kind.
func FuzzTaskRequest(f *testing.F) {
	s, bundle := fuzzService(f)
	methods := taskMethods(bundle)
	samples := sampleRequests(f)
	for i, m := range methods {
		b, err := proto.Marshal(samples[m.name])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
		f.Add(uint8(i), []byte{})
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		m := methods[int(which)%len(methods)]
		req := m.req()
		if err := proto.Unmarshal(data, req); err != nil {
			return // the server answers InvalidArgument: FuzzTaskServer
		}
		before := goruntime.NumGoroutine()
		ctx, cancel := context.WithTimeout(context.Background(), fuzzCallTimeout)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- m.call(ctx, s, req) }()
		select {
		case err := <-done:
			if err != nil {
				checkKind(t, m.name, err)
			}
		case <-time.After(fuzzCallTimeout + 5*time.Second):
			t.Fatalf("%s(%v) did not return", m.name, req)
		}
		settleGoroutines(t, m.name, before)
		s.mu.Lock()
		n := len(s.containers) + len(s.creating)
		s.mu.Unlock()
		if n != 0 {
			t.Fatalf("%s(%v) left %d containers", m.name, req, n)
		}
	})
}

// ttrpcFrame is one ttrpc message as a client writes it: a 10-byte header
// (length, stream id, type, flags) and the payload.
func ttrpcFrame(stream uint32, typ, flags byte, payload []byte) []byte {
	b := make([]byte, 10, 10+len(payload))
	binary.BigEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[4:8], stream)
	b[8], b[9] = typ, flags
	return append(b, payload...)
}

// FuzzTaskServer writes arbitrary bytes to the shim's real ttrpc server,
// as a client connection would: the server neither crashes nor hangs on
// the connection, leaves no goroutine behind once it is closed, and a
// well-formed request on another connection is still served.
func FuzzTaskServer(f *testing.F) {
	s, bundle := fuzzService(f)
	path := filepath.Join(f.TempDir(), "task.sock")
	l, err := listenUnix(path)
	if err != nil {
		f.Fatal(err)
	}
	server, err := s.newServer()
	if err != nil {
		f.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(context.Background(), l) }()
	f.Cleanup(func() {
		_ = server.Close()
		if err := <-served; err != nil && !errors.Is(err, ttrpc.ErrServerClosed) {
			f.Errorf("serve: %v", err)
		}
	})
	conn, err := dialUnix(path)
	if err != nil {
		f.Fatal(err)
	}
	client := ttrpc.NewClient(conn)
	f.Cleanup(func() { _ = client.Close() })
	check := taskapi.NewTTRPCTaskClient(client)
	// One call now, so that the server's goroutines for this long-lived
	// connection exist before the first input counts goroutines: the
	// server accepts it in its own time, and its two goroutines once
	// showed up during the first seed as a "leak".
	warm, cancel := context.WithTimeout(context.Background(), fuzzCallTimeout)
	_, err = check.Connect(warm, &taskapi.ConnectRequest{Id: "c"})
	cancel()
	if err != nil {
		f.Fatalf("first call on the check connection: %v", err)
	}

	// Seeds: a well-formed request of each method, one with a payload
	// that does not decode, one of an unknown method, and a stream frame.
	const request, data = 1, 3
	samples := sampleRequests(f)
	for _, m := range taskMethods(bundle) {
		if m.name == "Create" {
			continue // its bundle is not replaced on this path
		}
		payload, err := proto.Marshal(samples[m.name])
		if err != nil {
			f.Fatal(err)
		}
		req, err := proto.Marshal(&ttrpc.Request{Service: "containerd.task.v3.Task", Method: m.name, Payload: payload, TimeoutNano: int64(time.Second)})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ttrpcFrame(1, request, 0, req))
	}
	for _, r := range []*ttrpc.Request{
		{Service: "containerd.task.v3.Task", Method: "State", Payload: []byte{0xff, 0xff}},
		{Service: "containerd.task.v3.Task", Method: "Nope"},
		{Service: "x", Method: "State", Metadata: []*ttrpc.KeyValue{{Key: "k", Value: "v"}}},
	} {
		req, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ttrpcFrame(3, request, 0, req))
	}
	f.Add(ttrpcFrame(2, request, 0, nil))
	f.Add(ttrpcFrame(1, data, 1, []byte("x")))
	f.Add(ttrpcFrame(1, request, 0, make([]byte, 64))[:20])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 1, 0})

	f.Fuzz(func(t *testing.T, in []byte) {
		// A Create on this path would take the bundle from the fuzzer;
		// the bundle paths it could produce hold no config.json.
		before := goruntime.NumGoroutine()
		c, err := dialUnix(path)
		if err != nil {
			t.Fatal(err)
		}
		func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(fuzzCallTimeout))
			if _, err := c.Write(in); err != nil && !isConnClosed(err) {
				t.Fatalf("write: %v", err)
			}
			_ = c.CloseWrite()
			// The server closes on our EOF, dropping answers not yet
			// sent (ttrpc's way): the handlers still run, and their
			// goroutines are counted below.
			if _, err := io.Copy(io.Discard, c); err != nil && !isConnClosed(err) {
				t.Fatalf("server did not close the connection: %v", err)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), fuzzCallTimeout)
		defer cancel()
		if _, err := check.Connect(ctx, &taskapi.ConnectRequest{Id: "c"}); err != nil {
			t.Fatalf("server no longer serves: %v", err)
		}
		settleGoroutines(t, "connection", before)
	})
}

// isConnClosed: the server may close first, which the client sees as a
// reset or a broken pipe.
func isConnClosed(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// FuzzTaskOptions: no runtime options Any (Create's, or the start action's
// extension) panics the decoder; a refusal is an errdefs kind, and so is
// a disagreement between the options' cgroup driver and the spec's path.
func FuzzTaskOptions(f *testing.F) {
	for _, m := range []proto.Message{
		&runcoptions.Options{SystemdCgroup: true, ShimCgroup: "/s", IoUid: 1, IoGid: 2, NoPivotRoot: true},
		&runcoptions.Options{BinaryName: "runc", CriuImagePath: "/c"},
		&runtimeoptions.Options{TypeUrl: "x", ConfigPath: "/etc/x.toml"},
		&runtimeoptions.Options{},
	} {
		a, err := anypb.New(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(a.TypeUrl, a.Value, "system.slice:cri:c1", "org.systemd.property.CPUWeight")
		f.Add(a.TypeUrl, a.Value, "/k8s/c1", "")
	}
	f.Add("", []byte{}, "", "")
	f.Add("/", []byte{0xff}, ":", "x")
	f.Fuzz(func(t *testing.T, typeURL string, value []byte, cgroupsPath, annotation string) {
		o, err := parseTaskOptions(&anypb.Any{TypeUrl: typeURL, Value: value})
		if err != nil {
			checkKind(t, "parseTaskOptions", err)
			return
		}
		if err := checkCgroupDriver(o.cgroupDriver, cgroupsPath, map[string]string{annotation: "1"}); err != nil {
			checkKind(t, "checkCgroupDriver", err)
		}
	})
}

// FuzzBootstrapParams: the start action's bootstrap parameters (stdin, from
// containerd) and its command line never panic their parsers; refused
// parameters are InvalidArgument, as is a bad runtime options extension.
func FuzzBootstrapParams(f *testing.F) {
	ext, err := anypb.New(&runcoptions.Options{ShimCgroup: "/shim"})
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []*bootstrap.BootstrapParams{
		{InstanceID: "c", Namespace: "ns", ContainerdGrpcAddress: "/run/c.sock", LogLevel: bootstrap.LogLevel_LOG_LEVEL_DEBUG,
			Extensions: []*bootstrap.Extension{{Value: ext}}},
		{InstanceID: "c", Namespace: "ns", Extensions: []*bootstrap.Extension{{Value: &anypb.Any{TypeUrl: ext.TypeUrl, Value: []byte{0xff}}}}},
		{InstanceID: "other", Namespace: "ns"},
	} {
		b, err := proto.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "-namespace\x00ns\x00-id\x00c\x00start")
	}
	f.Add([]byte{}, "-bogus")
	f.Fuzz(func(t *testing.T, input []byte, args string) {
		_, _ = parseOptions(strings.Split(args, "\x00"))
		params, err := decodeBootstrap(input, options{namespace: "ns", id: "c"})
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("decodeBootstrap: %v, want InvalidArgument", err)
			}
			return
		}
		if params.InstanceID != "c" || params.Namespace != "ns" {
			t.Fatalf("accepted parameters for %s/%s", params.Namespace, params.InstanceID)
		}
		if _, err := shimCgroup(params); err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Fatalf("shimCgroup: %v, want InvalidArgument", err)
		}
		_ = socketAddress(params.GetSocketDir(), params.ContainerdGrpcAddress, params.Namespace, "c")
	})
}
