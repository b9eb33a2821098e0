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
// reading config.json and writing to the init: planning namespaces, the
// constructor's environment, and encoding the init's config.
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
		var s oci.Spec
		if err := json.Unmarshal(raw, &s); err != nil {
			b.Fatal(err)
		}
		plan, err := planNamespaces(s.Linux.Namespaces)
		if err != nil {
			b.Fatal(err)
		}
		req := nsenter.Request{SyncFD: 3, CgroupProcs: []string{"/sys/fs/cgroup/memory/x/cgroup.procs"}, Join: plan.join, NewFlags: plan.newFlags, Fork: plan.fork}
		if _, err := req.Env(); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(message{Type: msgConfig, Config: &initConfig{Spec: &s, Process: s.Process, Rootfs: "/x"}}); err != nil {
			b.Fatal(err)
		}
	}
}
