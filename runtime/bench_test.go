package runtime

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/raind/raind/runtime/nsenter"
)

// BenchmarkPrepareInit measures what the shim does per container between
// reading config.json and writing to the init: parsing its view of the
// spec, planning namespaces, the constructor's environment, and encoding
// the init's config.
func BenchmarkPrepareInit(b *testing.B) {
	ctx := namespaces.WithNamespace(context.Background(), "bench")
	spec, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "bench"}, oci.WithProcessArgs("/bin/true"))
	if err != nil {
		b.Fatal(err)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg, err := ParseConfig(raw)
		if err != nil {
			b.Fatal(err)
		}
		plan, err := planNamespaces(cfg.view.Linux)
		if err != nil {
			b.Fatal(err)
		}
		req := nsenter.Request{SyncFD: 3, CgroupProcs: []string{"/sys/fs/cgroup/memory/x/cgroup.procs"}, Join: plan.join, NewFlags: plan.newFlags, Fork: plan.fork}
		if _, err := req.Env(); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(message{Type: msgConfig, Config: &initConfig{Spec: cfg.data, Rootfs: "/x"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeInitConfig measures the init's side: decoding the whole
// spec it was sent.
func BenchmarkDecodeInitConfig(b *testing.B) {
	ctx := namespaces.WithNamespace(context.Background(), "bench")
	spec, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "bench"}, oci.WithProcessArgs("/bin/true"))
	if err != nil {
		b.Fatal(err)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		b.Fatal(err)
	}
	msg, err := json.Marshal(message{Type: msgConfig, Config: &initConfig{Spec: raw, Rootfs: "/x"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var m message
		if err := json.Unmarshal(msg, &m); err != nil {
			b.Fatal(err)
		}
		if _, _, err := decodeConfig(m.Config); err != nil {
			b.Fatal(err)
		}
	}
}
