package service

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
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
	want := taskOptions{noPivot: true, noNewKeyring: true, ioUID: 1000, ioGID: 1001, shimCgroup: "/shim"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
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
		{&runcoptions.Options{SystemdCgroup: true}, "systemd_cgroup", errdefs.ErrNotImplemented},
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
