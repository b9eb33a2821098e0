package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestViewTagsMatchSpec: every field of the views must be named as in
// runtime-spec, or ParseConfig would silently miss what it is there to
// refuse or act on.
func TestViewTagsMatchSpec(t *testing.T) {
	pairs := []struct{ view, spec any }{
		{specView{}, specs.Spec{}},
		{rootView{}, specs.Root{}},
		{processView{}, specs.Process{}},
		{hooksView{}, specs.Hooks{}},
		{linuxView{}, specs.Linux{}},
		{mountView{}, specs.Mount{}},
		{userFieldView{}, specs.User{}},
	}
	tag := func(f reflect.StructField) string { return strings.Split(f.Tag.Get("json"), ",")[0] }
	for _, p := range pairs {
		vt, st := reflect.TypeOf(p.view), reflect.TypeOf(p.spec)
		names := map[string]reflect.StructField{}
		for i := 0; i < st.NumField(); i++ {
			names[tag(st.Field(i))] = st.Field(i)
		}
		// Embedded views (fields.go) count with their fields.
		for _, f := range reflect.VisibleFields(vt) {
			if f.Anonymous || !f.IsExported() {
				continue
			}
			sf, ok := names[tag(f)]
			if !ok {
				t.Errorf("%s.%s: json name %q is not in %s", vt.Name(), f.Name, tag(f), st.Name())
				continue
			}
			if sf.Name != f.Name {
				t.Errorf("%s.%s is %s.%s", vt.Name(), f.Name, st.Name(), sf.Name)
			}
		}
	}
}

func generatedSpec(t *testing.T, opts ...oci.SpecOpts) *specs.Spec {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), "test")
	s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "c1"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestParseConfigView: what the creating process reads must be what the
// spec says, for a spec as containerd generates it.
func TestParseConfigView(t *testing.T) {
	limit := int64(64 << 20)
	s := generatedSpec(t, oci.WithProcessArgs("sh"), oci.WithTTY, oci.WithAnnotations(map[string]string{"a": "b"}),
		oci.WithCgroup("/pods/c1"), oci.WithMemoryLimit(uint64(limit)), oci.WithPidsLimit(10),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"}))
	cfg, err := NewConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Terminal() || cfg.Annotations()["a"] != "b" || cfg.cgroupPath("c1") != "/pods/c1" {
		t.Fatalf("terminal %v annotations %v cgroup %s", cfg.Terminal(), cfg.Annotations(), cfg.cgroupPath("c1"))
	}
	if !reflect.DeepEqual(cfg.view.Linux.Namespaces, s.Linux.Namespaces) {
		t.Errorf("namespaces %v, want %v", cfg.view.Linux.Namespaces, s.Linux.Namespaces)
	}
	if !reflect.DeepEqual(cfg.view.Linux.Resources, s.Linux.Resources) {
		t.Errorf("resources %+v, want %+v", cfg.view.Linux.Resources, s.Linux.Resources)
	}
	s.Linux.CgroupsPath = ""
	s.Process.Terminal = false
	if cfg, err = NewConfig(s); err != nil || cfg.Terminal() || cfg.cgroupPath("c1") != "/raind/c1" {
		t.Fatalf("defaults: %v", err)
	}
}

func TestParseConfigRefusesBadSpecs(t *testing.T) {
	cases := map[string]string{
		"malformed":  `{"process": `,
		"not object": `[]`,
		"no process": `{"root": {"path": "r"}, "linux": {}}`,
		"null proc":  `{"process": null, "root": {"path": "r"}, "linux": {}}`,
		"no root":    `{"process": {"args": ["sh"]}, "linux": {}}`,
		"no linux":   `{"process": {"args": ["sh"]}, "root": {"path": "r"}}`,
		"no args":    `{"process": {"args": []}, "root": {"path": "r"}, "linux": {}}`,
		"bad type":   `{"process": {"args": "sh"}, "root": {"path": "r"}, "linux": {}}`,
	}
	for name, doc := range cases {
		if _, err := ParseConfig([]byte(doc)); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	// null is absence, as for the pointers in specs.Spec.
	ok := `{"process": {"args": ["sh"], "scheduler": null}, "root": {"path": "r"}, "hooks": null,
		"linux": {"seccomp": null, "intelRdt": null, "personality": null, "uidMappings": null}}`
	if _, err := ParseConfig([]byte(ok)); err != nil {
		t.Errorf("nulls refused: %v", err)
	}
	if _, err := NewConfig(nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("nil spec: %v", err)
	}
}

func TestParseProcess(t *testing.T) {
	p, err := ParseProcess([]byte(`{"args": ["sh"], "terminal": true, "cwd": "/"}`))
	if err != nil || !p.Terminal() {
		t.Fatalf("%v %v", p, err)
	}
	for name, doc := range map[string]string{"malformed": `{`, "no args": `{"cwd": "/"}`, "bad type": `{"args": [1]}`} {
		if _, err := ParseProcess([]byte(doc)); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	if _, err := NewProcessConfig(nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("nil process: %v", err)
	}
}

// TestInitConfigCarriesTheSpec: the init decodes exactly the spec the
// caller gave, though the creating process never decoded it whole.
func TestInitConfigCarriesTheSpec(t *testing.T) {
	s := generatedSpec(t, oci.WithProcessArgs("sh", "-c", "echo hi"), oci.WithHostname("h"),
		oci.WithEnv([]string{"A=1"}), oci.WithMemoryLimit(1<<30))
	cfg, err := NewConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := json.Marshal(message{Type: msgConfig, Config: &initConfig{Spec: cfg.data, Rootfs: "/r"}})
	if err != nil {
		t.Fatal(err)
	}
	var m message
	if err := json.Unmarshal(wire, &m); err != nil {
		t.Fatal(err)
	}
	got, proc, err := decodeConfig(m.Config)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) || proc != got.Process {
		t.Fatalf("init decoded a different spec:\n%+v\nwant\n%+v", got, s)
	}

	ps := &specs.Process{Args: []string{"ls"}, Env: []string{"B=2"}, Cwd: "/tmp", User: specs.User{UID: 5}}
	pc, err := NewProcessConfig(ps)
	if err != nil {
		t.Fatal(err)
	}
	wire, err = json.Marshal(message{Type: msgConfig, Config: &initConfig{Exec: true, Process: pc.data}})
	if err != nil {
		t.Fatal(err)
	}
	m = message{}
	if err := json.Unmarshal(wire, &m); err != nil {
		t.Fatal(err)
	}
	if _, proc, err = decodeConfig(m.Config); err != nil || !reflect.DeepEqual(proc, ps) {
		t.Fatalf("exec process %+v %v, want %+v", proc, err, ps)
	}

	// A spec the init cannot decode is the caller's fault.
	if _, _, err := decodeConfig(&initConfig{Spec: json.RawMessage(`{"process": {"args": "sh"}}`)}); err == nil {
		t.Fatal("bad spec decoded")
	}
	if err := childFailure(message{Type: msgError, Error: "x", Invalid: true}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("invalid child failure: %v", err)
	}
	if err := childFailure(message{Type: msgError, Error: "x"}); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("child failure: %v", err)
	}
}
