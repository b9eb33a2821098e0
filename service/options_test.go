package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	taskapi "github.com/raind/raind/service/taskv3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// anyOf packs m the way containerd's client and CRI do.
func anyOf(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := typeurl.MarshalAnyToProto(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseTaskOptions(t *testing.T) {
	got, err := parseTaskOptions(anyOf(t, &runcoptions.Options{NoPivotRoot: true, NoNewKeyring: true, IoUid: 1000, IoGid: 1001, ShimCgroup: "/shim"}))
	if err != nil {
		t.Fatal(err)
	}
	want := taskOptions{noPivot: true, noNewKeyring: true, ioUID: 1000, ioGID: 1001, shimCgroup: "/shim", cgroupDriver: driverCgroupfs}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	got, err = parseTaskOptions(anyOf(t, &runcoptions.Options{SystemdCgroup: true}))
	if err != nil || got != (taskOptions{cgroupDriver: driverSystemd}) {
		t.Fatalf("systemd_cgroup: %+v %v", got, err)
	}
	for _, a := range []*anypb.Any{nil, {}, anyOf(t, &runtimeoptions.Options{}), anyOf(t, &runtimeoptions.Options{TypeUrl: "x"})} {
		if got, err := parseTaskOptions(a); err != nil || got != (taskOptions{}) {
			t.Errorf("%v: %+v %v", a, got, err)
		}
	}
	for _, tc := range []struct {
		opts proto.Message
		name string
		kind error
	}{
		{&runcoptions.Options{BinaryName: "crun"}, "binary_name", errdefs.ErrInvalidArgument},
		{&runcoptions.Options{Root: "/run/x"}, "root", errdefs.ErrInvalidArgument},
		{&runcoptions.Options{CriuImagePath: "/i"}, "criu_image_path", errdefs.ErrNotImplemented},
		{&runcoptions.Options{CriuWorkPath: "/w"}, "criu_work_path", errdefs.ErrNotImplemented},
		//lint:ignore SA1019 deprecated, but still refused when set
		{&runcoptions.Options{TaskApiAddress: "ttrpc+unix:///x"}, "task_api_address", errdefs.ErrInvalidArgument},
		{&runtimeoptions.Options{ConfigPath: "/etc/raind.toml"}, "config_path", errdefs.ErrInvalidArgument},
		{&runcoptions.CheckpointOptions{}, "containerd.runc.v1.CheckpointOptions", errdefs.ErrInvalidArgument},
	} {
		_, err := parseTaskOptions(anyOf(t, tc.opts))
		if !errors.Is(err, tc.kind) || !strings.Contains(fmt.Sprint(err), tc.name) {
			t.Errorf("%T: error %v, want %v naming %s", tc.opts, err, tc.kind, tc.name)
		}
	}
	// Garbage never panics.
	if _, err := parseTaskOptions(&anypb.Any{TypeUrl: "containerd.runc.v1.Options", Value: []byte{0xff, 0xff}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("garbage: %v", err)
	}
}

func TestCheckCgroupDriver(t *testing.T) {
	for _, tc := range []struct {
		driver, path string
		ok           bool
	}{
		// No runc options (CRI to a runtime that is not runc): the path
		// decides.
		{"", "", true}, {"", "/a/b", true}, {"", "kubepods.slice:cri-containerd:abc", true},
		{driverSystemd, "system.slice:raind:c1", true}, {driverSystemd, ":raind:c1", true},
		{driverCgroupfs, "/a/b", true}, {driverCgroupfs, "", true},
		// runc refuses a cgroupfs path with systemd_cgroup.
		{driverSystemd, "/a/b", false}, {driverSystemd, "kubepods.slice", false},
		// raind gives no default unit, which its delete action could
		// not find again.
		{driverSystemd, "", false},
		// runc would make a directory of that name; raind never does.
		{driverCgroupfs, "system.slice:raind:c1", false},
	} {
		err := checkCgroupDriver(tc.driver, tc.path, map[string]string{"io.kubernetes.cri.sandbox-id": "x"})
		if tc.ok != (err == nil) || (err != nil && !errdefs.IsInvalidArgument(err)) {
			t.Errorf("%q %q: %v", tc.driver, tc.path, err)
		}
	}
	// runc gives these to systemd; raind does not yet, and says so.
	a := map[string]string{"org.systemd.property.TimeoutStopSec": "60", "org.systemd.property.CollectMode": "'inactive-or-failed'"}
	err := checkCgroupDriver("", "system.slice:raind:c1", a)
	if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "org.systemd.property.CollectMode") {
		t.Errorf("systemd property annotations: %v, want NotImplemented naming the first", err)
	}
	// Without systemd, runc ignores them too.
	if err := checkCgroupDriver("", "/raind/c1", a); err != nil {
		t.Errorf("cgroupfs path: %v", err)
	}
}

// TestCreateChecksCgroupDriver: Create holds the spec's cgroupsPath to the
// runc options' systemd_cgroup before it makes anything.
func TestCreateChecksCgroupDriver(t *testing.T) {
	s := newTestService()
	defer close(s.ec)
	s.containers = map[string]*container{}
	s.creating = map[string]struct{}{}
	client := serveTest(t, s)
	for _, tc := range []struct {
		path    string
		systemd bool
		want    string
	}{
		{"/raind-test/c1", true, "systemd_cgroup: expected linux.cgroupsPath"},
		{"system.slice:raind:c1", false, "do not set systemd_cgroup"},
	} {
		bundle := t.TempDir()
		spec := specs.Spec{
			Version: specs.Version,
			Root:    &specs.Root{Path: "rootfs"},
			Process: &specs.Process{Args: []string{"true"}, Cwd: "/"},
			Linux:   &specs.Linux{CgroupsPath: tc.path},
		}
		b, err := json.Marshal(&spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = client.Create(context.Background(), &taskapi.CreateTaskRequest{Id: "c1", Bundle: bundle,
			Options: anyOf(t, &runcoptions.Options{SystemdCgroup: tc.systemd})})
		err = errgrpc.ToNative(err)
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q systemd=%v: %v, want InvalidArgument saying %q", tc.path, tc.systemd, err, tc.want)
		}
	}
}
