package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/proto"
)

// FuzzReadRequest feeds arbitrary bytes to what the server runs on
// untrusted input: the frame reader, then the Request decoder. Nothing may
// panic, and the decoders must accept exactly what protobuf accepts and
// decode it the same way, since the peer is protobuf-go.
func FuzzReadRequest(f *testing.F) {
	valid, _ := proto.Marshal(&ttrpc.Request{
		Service: "containerd.task.v3.Task", Method: "Start", Payload: []byte{0x0a, 0x01, 'x'},
		TimeoutNano: 123, Metadata: []*ttrpc.KeyValue{{Key: "k", Value: "v"}},
	})
	f.Add(appendFrame(nil, 1, typeRequest, 0, valid))
	f.Add(valid)
	f.Add(appendFrame(appendFrame(nil, 1, typeRequest, 0, valid), 3, typeRequest, flagRemoteOpen, valid))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 1, 0})
	f.Add(binary.BigEndian.AppendUint32(nil, maxMessageLen+1))
	f.Add([]byte{0, 0, 0, 3, 0, 0, 0, 1, 1, 0, 0xff, 0xff, 0xff})
	f.Add([]byte{0x0b, 0x0c})             // group
	f.Add([]byte{0x0c})                   // stray end group
	f.Add([]byte{0x12, 0x02, 0xc3, 0x28}) // invalid UTF-8 method
	f.Add([]byte{0x2a, 0x02, 0x0a, 0x80}) // truncated metadata
	f.Add([]byte{0x0a, 0x02, 0x08, 0x05, 0x0a, 0x03, 0x12, 0x01, 'm'})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		for range 16 {
			h, p, err := readFrame(br)
			if err != nil {
				if _, ok := err.(frameTooLargeError); ok {
					continue
				}
				break
			}
			if int(h.length) != len(p) {
				t.Fatalf("header says %d bytes, got %d", h.length, len(p))
			}
			checkRequest(t, p)
		}
		checkRequest(t, data)
		checkResponse(t, data)
	})
}

func checkRequest(t *testing.T, b []byte) {
	got, err := unmarshalRequest(b)
	var want ttrpc.Request
	wantErr := proto.Unmarshal(b, &want)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("request %x: ours %v, protobuf %v", b, err, wantErr)
	}
	if err != nil {
		return
	}
	assertRequestEqual(t, &want, got)
	again, err := unmarshalRequest(got.marshal())
	if err != nil {
		t.Fatalf("re-decoding our own encoding: %v", err)
	}
	assertRequestEqual(t, &want, again)
}

func checkResponse(t *testing.T, b []byte) {
	got, err := unmarshalResponse(b)
	var want ttrpc.Response
	wantErr := proto.Unmarshal(b, &want)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("response %x: ours %v, protobuf %v", b, err, wantErr)
	}
	if err != nil {
		return
	}
	if !proto.Equal(responseToProto(got), withoutUnknown(&want)) {
		t.Fatalf("response %x: ours %+v, protobuf %v", b, got, &want)
	}
}
