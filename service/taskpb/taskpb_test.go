package taskpb_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	bootstrapapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	eventsvcapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/raind/raind/service/taskpb"
)

func newOurs(tc testCase) taskpb.Message {
	return reflect.New(reflect.TypeOf(tc.ours).Elem()).Interface().(taskpb.Message)
}

func newOfficial(tc testCase) proto.Message {
	return tc.official.ProtoReflect().New().Interface()
}

func deterministic(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameAsOfficial checks that ours encodes to something the generated type
// reads as want.
func sameAsOfficial(t testing.TB, tc testCase, ours taskpb.Message, want proto.Message) {
	t.Helper()
	got := newOfficial(tc)
	if err := proto.Unmarshal(ours.Marshal(), got); err != nil {
		t.Fatalf("proto.Unmarshal(ours.Marshal()): %v", err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("ours re-encoded reads as\n%v\nwant\n%v", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			want := deterministic(t, tc.official)
			if got := tc.ours.Marshal(); !bytes.Equal(got, want) {
				t.Fatalf("Marshal:\n got %x\nwant %x", got, want)
			}

			ours := newOurs(tc)
			if err := ours.Unmarshal(want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ours, tc.ours) {
				t.Fatalf("Unmarshal:\n got %+v\nwant %+v", ours, tc.ours)
			}
			sameAsOfficial(t, tc, ours, tc.official)

			// The default encoding writes maps in random order.
			plain, err := proto.Marshal(tc.official)
			if err != nil {
				t.Fatal(err)
			}
			if err := ours.Unmarshal(plain); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ours, tc.ours) {
				t.Fatalf("Unmarshal(proto.Marshal):\n got %+v\nwant %+v", ours, tc.ours)
			}
		})
	}
}

// TestCasesComplete keeps cases honest: every field of every message is
// set in some case, and every struct type of the package has a case.
func TestCasesComplete(t *testing.T) {
	full := map[protoreflect.FullName]bool{}
	ours := map[string]bool{}
	for _, tc := range cases() {
		m := tc.official.ProtoReflect()
		all := true
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			all = all && m.Has(fields.Get(i))
		}
		full[m.Descriptor().FullName()] = full[m.Descriptor().FullName()] || all
		ours[reflect.TypeOf(tc.ours).Elem().Name()] = true
		if got, want := reflect.TypeOf(tc.ours).Elem().Name(), string(m.Descriptor().Name()); got != want {
			t.Errorf("case %s pairs %s with %s", tc.name, got, want)
		}
	}
	for name, ok := range full {
		if !ok {
			t.Errorf("no case sets every field of %s", name)
		}
	}
	for _, name := range packageStructs(t) {
		if !ours[name] {
			t.Errorf("no case for %s", name)
		}
	}
}

func TestZero(t *testing.T) {
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			zero := newOurs(tc)
			if b := zero.Marshal(); len(b) != 0 {
				t.Fatalf("zero message encodes to %x", b)
			}
			// Unmarshal resets: decoding nothing into a full message
			// leaves it empty.
			m := newOurs(tc)
			if err := m.Unmarshal(tc.ours.Marshal()); err != nil {
				t.Fatal(err)
			}
			if err := m.Unmarshal(nil); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m, zero) {
				t.Fatalf("Unmarshal(nil) left %+v", m)
			}
		})
	}
}

// unknownFields has one field of each wire type, numbered past any field
// of these messages.
func unknownFields() []byte {
	const n = 1000
	var b []byte
	b = protowire.AppendTag(b, n, protowire.VarintType)
	b = protowire.AppendVarint(b, 1<<63)
	b = protowire.AppendTag(b, n+1, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 0xdeadbeef)
	b = protowire.AppendTag(b, n+2, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 0xdeadbeefcafe)
	b = protowire.AppendTag(b, n+3, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("skip me"))
	b = protowire.AppendTag(b, n+4, protowire.StartGroupType)
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 5)
	b = protowire.AppendTag(b, 2, protowire.StartGroupType)
	b = protowire.AppendTag(b, 2, protowire.EndGroupType)
	b = protowire.AppendTag(b, n+4, protowire.EndGroupType)
	return b
}

func TestUnknownFieldsSkipped(t *testing.T) {
	unknown := unknownFields()
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			valid := tc.ours.Marshal()
			// Unknown fields before, between and after the known ones.
			var in []byte
			in = append(in, unknown...)
			rest := valid
			for len(rest) > 0 {
				num, typ, tn := protowire.ConsumeTag(rest)
				vn := protowire.ConsumeFieldValue(num, typ, rest[tn:])
				in = append(in, rest[:tn+vn]...)
				in = append(in, unknown...)
				rest = rest[tn+vn:]
			}
			m := newOurs(tc)
			if err := m.Unmarshal(in); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m, tc.ours) {
				t.Fatalf("got %+v\nwant %+v", m, tc.ours)
			}
		})
	}
}

func TestMalformedUnknownFields(t *testing.T) {
	bad := map[string][]byte{
		"field number 0":       {0x00, 0x01},
		"stray end group":      protowire.AppendTag(nil, 1000, protowire.EndGroupType),
		"unterminated group":   protowire.AppendTag(nil, 1000, protowire.StartGroupType),
		"mismatched end group": append(protowire.AppendTag(nil, 1000, protowire.StartGroupType), protowire.AppendTag(nil, 1001, protowire.EndGroupType)...),
		"reserved wire type":   protowire.AppendVarint(nil, 1000<<3|6),
		"short fixed64":        append(protowire.AppendTag(nil, 1000, protowire.Fixed64Type), 1, 2, 3),
		"short bytes":          append(protowire.AppendTag(nil, 1000, protowire.BytesType), 5, 1),
		"overlong varint":      append(protowire.AppendTag(nil, 1000, protowire.VarintType), bytes.Repeat([]byte{0xff}, 10)...),
	}
	for _, tc := range cases() {
		name := reflect.TypeOf(tc.ours).Elem().Name()
		for what, in := range bad {
			if err := newOurs(tc).Unmarshal(in); err == nil {
				t.Errorf("%s: %s: no error", tc.name, what)
			} else if !strings.Contains(err.Error(), name) {
				t.Errorf("%s: %s: error %q does not name the message", tc.name, what, err)
			}
		}
	}
}

// TestTruncated decodes every prefix of every valid encoding: it must be
// an error exactly when the generated type finds one, and otherwise read
// the same as the generated type reads it.
func TestTruncated(t *testing.T) {
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			valid := tc.ours.Marshal()
			for i := range len(valid) {
				prefix := valid[:i]
				ours := newOurs(tc)
				err := ours.Unmarshal(prefix)
				official := newOfficial(tc)
				officialErr := proto.Unmarshal(prefix, official)
				if (err == nil) != (officialErr == nil) {
					t.Fatalf("prefix %d: ours %v, official %v", i, err, officialErr)
				}
				if err == nil {
					sameAsOfficial(t, tc, ours, official)
				}
			}
		})
	}
}

func TestWrongWireType(t *testing.T) {
	for _, tc := range cases() {
		fields := tc.official.ProtoReflect().Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			// fixed32 is wrong for every field here; the second value
			// swaps a varint field for bytes and anything else for a
			// varint, except that repeated enums may come packed.
			other := protowire.AppendTag(nil, fd.Number(), protowire.VarintType)
			other = protowire.AppendVarint(other, 1)
			if fd.Kind() == protoreflect.EnumKind || fd.Kind() == protoreflect.Uint32Kind ||
				fd.Kind() == protoreflect.Int32Kind || fd.Kind() == protoreflect.BoolKind {
				other = protowire.AppendTag(nil, fd.Number(), protowire.Fixed64Type)
				other = protowire.AppendFixed64(other, 1)
			}
			fixed := protowire.AppendTag(nil, fd.Number(), protowire.Fixed32Type)
			fixed = protowire.AppendFixed32(fixed, 1)
			for _, in := range [][]byte{fixed, other} {
				in = append(tc.ours.Marshal(), in...)
				err := newOurs(tc).Unmarshal(in)
				name := reflect.TypeOf(tc.ours).Elem().Name() + "." + string(fd.Name())
				if err == nil || !strings.Contains(err.Error(), name) {
					t.Errorf("%s: field %s with wire bytes %x: error %v, want one naming %s", tc.name, fd.Name(), in, err, name)
				}
			}
		}
	}
}

// TestRepeatedFieldsMerge sends every message twice in a row, which
// protobuf reads as one message: repeated fields append, map entries and
// scalars overwrite, and message fields merge.
func TestRepeatedFieldsMerge(t *testing.T) {
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			in := append(tc.ours.Marshal(), tc.ours.Marshal()...)
			want := newOfficial(tc)
			if err := proto.Unmarshal(in, want); err != nil {
				t.Fatal(err)
			}
			ours := newOurs(tc)
			if err := ours.Unmarshal(in); err != nil {
				t.Fatal(err)
			}
			sameAsOfficial(t, tc, ours, want)
		})
	}
}

func TestMessageFieldsMerge(t *testing.T) {
	first := (&taskpb.TaskExit{
		ExitedAt: time.Unix(100, 5).UTC(),
	}).Marshal()
	first = append(first, (&taskpb.CreateTaskRequest{Options: &taskpb.Any{TypeURL: "a", Value: []byte("v")}}).Marshal()...)
	// Field 5 of TaskExit (a Timestamp) again, with only its seconds; and
	// field 10 of CreateTaskRequest (an Any) again, with only its value.
	// Both decode the concatenation, each skipping the other's fields.
	var second []byte
	second = protowire.AppendTag(second, 5, protowire.BytesType)
	second = protowire.AppendBytes(second, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 200))
	second = protowire.AppendTag(second, 10, protowire.BytesType)
	second = protowire.AppendBytes(second, protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte("w")))
	in := append(first, second...)

	var exit taskpb.TaskExit
	if err := exit.Unmarshal(in); err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(200, 5).UTC(); !exit.ExitedAt.Equal(want) {
		t.Errorf("ExitedAt = %v, want %v", exit.ExitedAt, want)
	}
	var create taskpb.CreateTaskRequest
	if err := create.Unmarshal(in); err != nil {
		t.Fatal(err)
	}
	if want := (&taskpb.Any{TypeURL: "a", Value: []byte("w")}); !reflect.DeepEqual(create.Options, want) {
		t.Errorf("Options = %+v, want %+v", create.Options, want)
	}
}

func TestCapabilitiesUnpacked(t *testing.T) {
	var in []byte
	for _, v := range []int32{3, -1, 0} {
		in = protowire.AppendTag(in, 4, protowire.VarintType)
		in = protowire.AppendVarint(in, uint64(int64(v)))
	}
	// A packed run after the unpacked ones appends too.
	in = append(in, (&taskpb.BootstrapResult{Capabilities: []int32{9, 10}}).Marshal()...)
	var r taskpb.BootstrapResult
	if err := r.Unmarshal(in); err != nil {
		t.Fatal(err)
	}
	if want := []int32{3, -1, 0, 9, 10}; !reflect.DeepEqual(r.Capabilities, want) {
		t.Fatalf("Capabilities = %v, want %v", r.Capabilities, want)
	}
	official := &bootstrapapi.BootstrapResult{}
	if err := proto.Unmarshal(in, official); err != nil {
		t.Fatal(err)
	}
	if got := deterministic(t, official); !bytes.Equal(got, r.Marshal()) {
		t.Fatalf("re-encoded:\n got %x\nwant %x", r.Marshal(), got)
	}
}

func TestTimestamps(t *testing.T) {
	for _, at := range []time.Time{
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Unix(-1, 999999999),
		time.Unix(1, 0),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)),
		time.Now(), // with a monotonic reading
	} {
		ours := &taskpb.WaitResponse{ExitedAt: at}
		want := deterministic(t, &taskapi.WaitResponse{ExitedAt: timestamppb.New(at)})
		if got := ours.Marshal(); !bytes.Equal(got, want) {
			t.Errorf("%v: got %x, want %x", at, got, want)
		}
		var back taskpb.WaitResponse
		if err := back.Unmarshal(want); err != nil {
			t.Fatal(err)
		}
		if !back.ExitedAt.Equal(at) || back.ExitedAt.Location() != time.UTC {
			t.Errorf("%v: read back %v", at, back.ExitedAt)
		}
	}
}

func TestBytesNotAliased(t *testing.T) {
	in := (&taskpb.Any{TypeURL: "t", Value: []byte("value")}).Marshal()
	var a taskpb.Any
	if err := a.Unmarshal(in); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 0
	}
	if string(a.Value) != "value" {
		t.Fatalf("Value changed with the input: %q", a.Value)
	}
}

func TestErrorsNameMessageAndField(t *testing.T) {
	// A Mount inside a CreateTaskRequest with a bad options element.
	mount := protowire.AppendTag(nil, 4, protowire.BytesType)
	mount = append(mount, 9, 'x')
	in := protowire.AppendTag(nil, 3, protowire.BytesType)
	in = protowire.AppendBytes(in, mount)
	err := new(taskpb.CreateTaskRequest).Unmarshal(in)
	if err == nil || !strings.Contains(err.Error(), "CreateTaskRequest.rootfs: Mount.options") {
		t.Fatalf("error %v", err)
	}
	if !strings.HasPrefix(err.Error(), "taskpb: ") {
		t.Fatalf("error %q lacks the package prefix", err)
	}
}

func TestServiceNames(t *testing.T) {
	if got, want := taskpb.TaskService, string(taskapi.File_runtime_task_v3_shim_proto.Services().ByName("Task").FullName()); got != want {
		t.Errorf("TaskService = %q, want %q", got, want)
	}
	if got, want := taskpb.EventsService, string(eventsvcapi.File_services_ttrpc_events_v1_events_proto.Services().ByName("Events").FullName()); got != want {
		t.Errorf("EventsService = %q, want %q", got, want)
	}
}

// packageStructs lists the struct types the package declares.
func packageStructs(t *testing.T) []string {
	var names []string
	for _, f := range packageFiles(t, parser.SkipObjectResolution) {
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok && ts.Name.IsExported() {
				if _, ok := ts.Type.(*ast.StructType); ok {
					names = append(names, ts.Name.Name)
				}
			}
			return true
		})
	}
	return names
}

func packageFiles(t *testing.T, mode parser.Mode) []*ast.File {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, mode)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// TestImports holds the package to its purpose: nothing but protowire
// from protobuf, and no grpc or containerd API.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"errors": true, "fmt": true, "maps": true, "slices": true, "time": true,
		"google.golang.org/protobuf/encoding/protowire": true,
	}
	for _, f := range packageFiles(t, parser.ImportsOnly) {
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[path] {
				t.Errorf("imports %s", path)
			}
		}
	}
}
