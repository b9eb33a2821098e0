package service

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	eventsapi "github.com/containerd/containerd/api/events"
	eventsv1 "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-namespace", "k8s.io", "-id", "c1", "-address", "/run/c.sock", "-publish-binary", "/usr/bin/containerd", "-debug", "start"})
	if err != nil {
		t.Fatal(err)
	}
	if o.namespace != "k8s.io" || o.id != "c1" || !o.debug || o.action != "start" {
		t.Fatalf("parsed %+v", o)
	}
	if _, err := parseOptions([]string{"-no-such-flag"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if code := Run("test", []string{"-bogus"}); code != 2 {
		t.Fatalf("bad flag: exit %d, want 2", code)
	}
	if code := Run("test", []string{"start"}); code != 1 {
		t.Fatalf("no namespace: exit %d, want 1", code)
	}
}

// TestRuntimeInfo decodes -info's answer with containerd's own types.
func TestRuntimeInfo(t *testing.T) {
	b, err := runtimeInfo("io.containerd.raind.v2")
	if err != nil {
		t.Fatal(err)
	}
	var info types.RuntimeInfo
	if err := proto.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if info.Name != "io.containerd.raind.v2" || info.Version.GetVersion() != Version {
		t.Fatalf("info %v", &info)
	}
	if info.Features.GetTypeUrl() != featuresTypeURL {
		t.Fatalf("features type %q", info.Features.GetTypeUrl())
	}
	var f features.Features
	if err := json.Unmarshal(info.Features.GetValue(), &f); err != nil {
		t.Fatal(err)
	}
	if !*f.Linux.Seccomp.Enabled || len(f.Linux.Seccomp.Actions) == 0 || !*f.Linux.Cgroup.V1 {
		t.Fatalf("features %+v", f.Linux)
	}
}

// TestSocketAddress: one shim per group and per containerd, and the path
// stays under the unix socket limit.
func TestSocketAddress(t *testing.T) {
	a := socketAddress("/run/containerd/s", "/run/containerd/containerd.sock", "default", "pod1")
	if a != socketAddress("/run/containerd/s", "/run/containerd/containerd.sock", "default", "pod1") {
		t.Fatal("not stable")
	}
	for _, other := range []string{
		socketAddress("/run/containerd/s", "/run/containerd/containerd.sock", "default", "pod2"),
		socketAddress("/run/containerd/s", "/run/containerd/containerd.sock", "k8s.io", "pod1"),
		socketAddress("/run/containerd/s", "/tmp/other.sock", "default", "pod1"),
	} {
		if other == a {
			t.Fatalf("collision: %s", a)
		}
	}
	if !strings.HasPrefix(a, "unix:///run/containerd/s/") || len(socketPath(a)) > 107 {
		t.Fatalf("address %s", a)
	}
}

// TestNewSocketReuse: a live socket is detected, and the start process
// closing its copy does not unlink the daemon's socket.
func TestNewSocketReuse(t *testing.T) {
	address := "unix://" + filepath.Join(t.TempDir(), "s", "x")
	l, err := newSocket(address)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newSocket(address); err == nil {
		t.Fatal("second bind of a live socket succeeded")
	}
	if !canConnect(address) {
		t.Fatal("cannot connect to live socket")
	}
	st, err := os.Stat(socketPath(address))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v", st, err)
	}
	l.Close()
	if _, err := os.Stat(socketPath(address)); err != nil {
		t.Fatal("closing the listener unlinked the socket")
	}
	if canConnect(address) {
		t.Fatal("connected to a closed socket")
	}
	if err := removeSocketAddress(address); err != nil {
		t.Fatal(err)
	}
	if err := removeSocketAddress(address); err != nil {
		t.Fatal("removing a missing socket:", err)
	}
}

// fakeEvents is containerd's ttrpc events service, recording what it gets.
type fakeEvents struct{ got chan *eventsv1.ForwardRequest }

func (f *fakeEvents) Forward(ctx context.Context, r *eventsv1.ForwardRequest) (*emptypb.Empty, error) {
	f.got <- r
	return &emptypb.Empty{}, nil
}

// TestPublisher forwards an event to a fake containerd events service,
// served with containerd's generated code, and redials after the
// connection breaks.
func TestPublisher(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ttrpc.sock")
	events := &fakeEvents{got: make(chan *eventsv1.ForwardRequest, 4)}
	serve := func() *ttrpc.Server {
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ttrpc.NewServer()
		if err != nil {
			t.Fatal(err)
		}
		eventsv1.RegisterTTRPCEventsService(s, events)
		go func() { _ = s.Serve(context.Background(), l) }()
		return s
	}
	s := serve()
	p := newPublisher("unix://"+sock, "ns1")
	defer p.close()
	ctx := context.Background()
	at := time.Unix(1700000000, 5).UTC()
	if err := p.publish(ctx, &eventsapi.TaskExit{ContainerID: "c", ID: "c", Pid: 9, ExitStatus: 3, ExitedAt: timestamppb.New(at)}); err != nil {
		t.Fatal(err)
	}
	r := <-events.got
	if r.Envelope.Namespace != "ns1" || r.Envelope.Topic != "/tasks/exit" || r.Envelope.Event.GetTypeUrl() != "containerd.events.TaskExit" {
		t.Fatalf("envelope %+v", r.Envelope)
	}
	v, err := typeurl.UnmarshalAny(r.Envelope.Event)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := v.(*eventsapi.TaskExit); !ok || e.ExitStatus != 3 || e.Pid != 9 || !e.ExitedAt.AsTime().Equal(at) {
		t.Fatalf("event %T %v", v, v)
	}
	// containerd restarts: the old connection is dead, the next event
	// still arrives.
	_ = s.Close()
	_ = os.Remove(sock)
	s2 := serve()
	defer s2.Close()
	if err := p.publish(ctx, &eventsapi.TaskStart{ContainerID: "c", Pid: 9}); err != nil {
		t.Fatal(err)
	}
	if r := <-events.got; r.Envelope.Topic != "/tasks/start" {
		t.Fatalf("after redial: %+v", r.Envelope)
	}
}

func TestWithoutEnv(t *testing.T) {
	env := []string{"A=1", "GOMAXPROCS=2", "GOMAXPROCSX=3", "GOMAXPROCS=4", "B="}
	got := withoutEnv(env, "GOMAXPROCS")
	if strings.Join(got, " ") != "A=1 GOMAXPROCSX=3 B=" {
		t.Fatalf("got %q", got)
	}
	if env[1] != "GOMAXPROCS=2" {
		t.Fatal("withoutEnv changed its input")
	}
}
