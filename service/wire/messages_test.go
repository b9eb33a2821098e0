package wire

import (
	"bytes"
	"testing"

	"github.com/containerd/ttrpc"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestRequestMatchesProtobuf(t *testing.T) {
	ours := request{
		service:     "containerd.task.v3.Task",
		method:      "Start",
		payload:     []byte{1, 2, 3},
		timeoutNano: 1500000000,
		metadata:    []keyValue{{"k", "v"}, {"", "only value"}, {"k", ""}},
	}
	var theirs ttrpc.Request
	if err := proto.Unmarshal(ours.marshal(), &theirs); err != nil {
		t.Fatal(err)
	}
	if theirs.Service != ours.service || theirs.Method != ours.method || !bytes.Equal(theirs.Payload, ours.payload) ||
		theirs.TimeoutNano != ours.timeoutNano || len(theirs.Metadata) != len(ours.metadata) {
		t.Fatalf("protobuf decoded %v", &theirs)
	}
	b, err := proto.Marshal(&theirs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := unmarshalRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	assertRequestEqual(t, &theirs, back)

	// A negative timeout (deadline already passed) survives the trip.
	neg := request{timeoutNano: -5}
	if got, err := unmarshalRequest(neg.marshal()); err != nil || got.timeoutNano != -5 {
		t.Errorf("negative timeout: %v %v", got.timeoutNano, err)
	}
}

func TestResponseMatchesProtobuf(t *testing.T) {
	ours := response{
		status: &rpcStatus{
			code:    -3, // negative int32 are sign-extended: 10 bytes
			message: "msg ✓",
			details: []anyMessage{{typeURL: "type.googleapis.com/x", value: []byte{9}}},
		},
		payload: []byte("payload"),
	}
	var theirs ttrpc.Response
	if err := proto.Unmarshal(ours.marshal(), &theirs); err != nil {
		t.Fatal(err)
	}
	want := &ttrpc.Response{
		Status: &spb.Status{
			Code:    -3,
			Message: "msg ✓",
			Details: []*anypb.Any{{TypeUrl: "type.googleapis.com/x", Value: []byte{9}}},
		},
		Payload: []byte("payload"),
	}
	if !proto.Equal(&theirs, want) {
		t.Fatalf("protobuf decoded %v, want %v", &theirs, want)
	}
	b, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	back, err := unmarshalResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(responseToProto(back), want) {
		t.Fatalf("decoded %+v", back)
	}

	// OK still carries an (empty) status, as ttrpc's server sends it.
	var ok ttrpc.Response
	if err := proto.Unmarshal((&response{status: &rpcStatus{}}).marshal(), &ok); err != nil || ok.Status == nil {
		t.Fatalf("OK response decoded as %v %v", &ok, err)
	}
}

func TestDecodeMergesAndSkips(t *testing.T) {
	// Two status fields merge; unknown fields of every wire type and a
	// known field with the wrong wire type are skipped, as protobuf does.
	b := []byte{
		0x0a, 0x02, 0x08, 0x05, // status{code: 5}
		0x0a, 0x03, 0x12, 0x01, 'm', // status{message: "m"}
		0x10, 0x01, // field 2 as varint: wrong type, skipped
		0x1d, 0, 0, 0, 0, // field 3, fixed32
		0x21, 0, 0, 0, 0, 0, 0, 0, 0, // field 4, fixed64
		0x2b, 0x08, 0x01, 0x2c, // field 5, group
		0x12, 0x01, 'p', // payload
	}
	var theirs ttrpc.Response
	if err := proto.Unmarshal(b, &theirs); err != nil {
		t.Fatal(err)
	}
	got, err := unmarshalResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(responseToProto(got), withoutUnknown(&theirs)) {
		t.Fatalf("ours %+v, protobuf %v", got, &theirs)
	}
}

func responseToProto(r response) *ttrpc.Response {
	out := &ttrpc.Response{Payload: r.payload}
	if r.status != nil {
		out.Status = &spb.Status{Code: r.status.code, Message: r.status.message}
		for _, d := range r.status.details {
			out.Status.Details = append(out.Status.Details, &anypb.Any{TypeUrl: d.typeURL, Value: d.value})
		}
	}
	return out
}

func assertRequestEqual(t *testing.T, want *ttrpc.Request, got request) {
	t.Helper()
	if got.service != want.Service || got.method != want.Method || !bytes.Equal(got.payload, want.Payload) ||
		got.timeoutNano != want.TimeoutNano || len(got.metadata) != len(want.Metadata) {
		t.Fatalf("decoded %+v, protobuf %v", got, want)
	}
	for i, kv := range want.Metadata {
		if got.metadata[i] != (keyValue{kv.Key, kv.Value}) {
			t.Fatalf("metadata %d: %+v, protobuf %v", i, got.metadata[i], kv)
		}
	}
}

// withoutUnknown drops the unknown fields protobuf keeps and we skip.
func withoutUnknown(r *ttrpc.Response) *ttrpc.Response {
	r.ProtoReflect().SetUnknown(nil)
	if r.Status != nil {
		r.Status.ProtoReflect().SetUnknown(nil)
		for _, d := range r.Status.Details {
			d.ProtoReflect().SetUnknown(nil)
		}
	}
	return r
}
