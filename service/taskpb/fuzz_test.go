package taskpb_test

import (
	"reflect"
	"testing"

	bootstrapapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// FuzzUnmarshal feeds the same bytes to every message. Whatever the input,
// Unmarshal must not panic, and a message it accepts must survive its own
// Marshal. Where the generated type accepts the input too, both must read
// the same message, up to what taskpb cannot represent.
func FuzzUnmarshal(f *testing.F) {
	all := cases()
	for _, tc := range all {
		b := tc.ours.Marshal()
		f.Add(b)
		f.Add(append(b, unknownFields()...))
		f.Add(append(b, b...))
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(protowire.AppendTag(nil, 1, protowire.StartGroupType))
	f.Add(protowire.AppendTag(nil, 3, protowire.EndGroupType))

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tc := range all {
			ours := newOurs(tc)
			if err := ours.Unmarshal(data); err != nil {
				continue
			}
			again := newOurs(tc)
			if err := again.Unmarshal(ours.Marshal()); err != nil {
				t.Fatalf("%s: cannot read its own encoding: %v", tc.name, err)
			}
			if !reflect.DeepEqual(again, ours) {
				t.Fatalf("%s: re-encoding changed\n%+v\ninto\n%+v", tc.name, ours, again)
			}

			// The generated type keeps unknown fields and reads a field of
			// the wrong wire type as unknown, where taskpb drops the one
			// and rejects the other; the comparison drops unknown fields.
			official := newOfficial(tc)
			if (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, official) != nil ||
				!representable(official.ProtoReflect()) {
				continue
			}
			sameAsOfficial(t, tc, ours, official)
		}
	})
}

// representable reports whether taskpb can hold m exactly. A time.Time
// holds only valid timestamps, and its zero value, 0001-01-01, means
// absent; likewise an empty SocketDir.
func representable(m protoreflect.Message) bool {
	switch v := m.Interface().(type) {
	case *timestamppb.Timestamp:
		return v.CheckValid() == nil && !v.AsTime().IsZero()
	case *bootstrapapi.BootstrapParams:
		if v.SocketDir != nil && *v.SocketDir == "" {
			return false
		}
	}
	ok := true
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil || fd.IsMap():
		case fd.IsList():
			for i := range v.List().Len() {
				ok = ok && representable(v.List().Get(i).Message())
			}
		default:
			ok = representable(v.Message())
		}
		return ok
	})
	return ok
}
