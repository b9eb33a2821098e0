package wire

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// The messages of ttrpc's request.proto and google/rpc/status.proto, coded
// by hand. Decoding follows proto3 rules as protobuf-go applies them: unknown
// fields and fields with an unexpected wire type are skipped, the last value
// of a scalar wins, a repeated embedded message is merged, and strings must
// be valid UTF-8 (protobuf-go rejects them otherwise, and we must reject the
// same inputs the library would).

// request is ttrpc.Request.
type request struct {
	service     string // 1
	method      string // 2
	payload     []byte // 3
	timeoutNano int64  // 4
	metadata    []keyValue
}

// keyValue is ttrpc.KeyValue, one entry of Request.metadata (5).
type keyValue struct {
	key   string // 1
	value string // 2
}

// response is ttrpc.Response.
type response struct {
	status  *rpcStatus // 1
	payload []byte     // 2
}

// rpcStatus is google.rpc.Status.
type rpcStatus struct {
	code    int32  // 1
	message string // 2
	details []anyMessage
}

// anyMessage is google.protobuf.Any, one entry of Status.details (3).
type anyMessage struct {
	typeURL string // 1
	value   []byte // 2
}

var errInvalidUTF8 = errors.New("string field contains invalid UTF-8")

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func (r *request) marshal() []byte {
	b := make([]byte, 0, 32+len(r.service)+len(r.method)+len(r.payload))
	b = appendStringField(b, 1, r.service)
	b = appendStringField(b, 2, r.method)
	b = appendBytesField(b, 3, r.payload)
	b = appendVarintField(b, 4, uint64(r.timeoutNano))
	for _, kv := range r.metadata {
		var m []byte
		m = appendStringField(m, 1, kv.key)
		m = appendStringField(m, 2, kv.value)
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	return b
}

func (s *rpcStatus) marshal() []byte {
	var b []byte
	// int32 is sign-extended to 64 bits on the wire, as protobuf does.
	b = appendVarintField(b, 1, uint64(int64(s.code)))
	b = appendStringField(b, 2, s.message)
	for _, d := range s.details {
		var m []byte
		m = appendStringField(m, 1, d.typeURL)
		m = appendBytesField(m, 2, d.value)
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	return b
}

func (r *response) marshal() []byte {
	b := make([]byte, 0, 16+len(r.payload))
	if r.status != nil {
		// Written even when empty (code OK): the ttrpc server always sets
		// the status, and clients may tell "absent" from "OK".
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, r.status.marshal())
	}
	return appendBytesField(b, 2, r.payload)
}

// field is one decoded field; only the member matching its wire type is set.
type field struct {
	num   protowire.Number
	typ   protowire.Type
	bytes []byte
	value uint64
}

// forEachField walks a message, skipping groups and fixed-width fields that
// none of our messages declare, and stops at the first malformed byte.
func forEachField(b []byte, fn func(f field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if num > protowire.MaxValidNumber {
			// ConsumeTag lets these through; protobuf-go's decoder does not.
			return errors.New("invalid field number")
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.value, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.VarintType && typ != protowire.BytesType {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func decodeString(f field) (string, error) {
	if !utf8.Valid(f.bytes) {
		return "", fmt.Errorf("field %d: %w", f.num, errInvalidUTF8)
	}
	return string(f.bytes), nil
}

// nilIfEmpty keeps "absent" and "empty" the same, as proto3 does for bytes.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// unmarshalRequest decodes a Request. payload aliases b.
func unmarshalRequest(b []byte) (request, error) {
	var r request
	err := forEachField(b, func(f field) error {
		var err error
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			r.service, err = decodeString(f)
		case f.num == 2 && f.typ == protowire.BytesType:
			r.method, err = decodeString(f)
		case f.num == 3 && f.typ == protowire.BytesType:
			r.payload = nilIfEmpty(f.bytes)
		case f.num == 4 && f.typ == protowire.VarintType:
			r.timeoutNano = int64(f.value)
		case f.num == 5 && f.typ == protowire.BytesType:
			var kv keyValue
			kv, err = unmarshalKeyValue(f.bytes)
			r.metadata = append(r.metadata, kv)
		}
		return err
	})
	return r, err
}

func unmarshalKeyValue(b []byte) (keyValue, error) {
	var kv keyValue
	err := forEachField(b, func(f field) error {
		var err error
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			kv.key, err = decodeString(f)
		case f.num == 2 && f.typ == protowire.BytesType:
			kv.value, err = decodeString(f)
		}
		return err
	})
	return kv, err
}

// unmarshalResponse decodes a Response. payload aliases b.
func unmarshalResponse(b []byte) (response, error) {
	var r response
	err := forEachField(b, func(f field) error {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			if r.status == nil {
				r.status = &rpcStatus{}
			}
			return r.status.merge(f.bytes)
		case f.num == 2 && f.typ == protowire.BytesType:
			r.payload = nilIfEmpty(f.bytes)
		}
		return nil
	})
	return r, err
}

// merge decodes a Status into s; protobuf merges a message field that
// occurs more than once rather than replacing it.
func (s *rpcStatus) merge(b []byte) error {
	return forEachField(b, func(f field) error {
		var err error
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			s.code = int32(f.value)
		case f.num == 2 && f.typ == protowire.BytesType:
			s.message, err = decodeString(f)
		case f.num == 3 && f.typ == protowire.BytesType:
			var a anyMessage
			a, err = unmarshalAny(f.bytes)
			s.details = append(s.details, a)
		}
		return err
	})
}

func unmarshalAny(b []byte) (anyMessage, error) {
	var a anyMessage
	err := forEachField(b, func(f field) error {
		var err error
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			a.typeURL, err = decodeString(f)
		case f.num == 2 && f.typ == protowire.BytesType:
			a.value = nilIfEmpty(f.bytes)
		}
		return err
	})
	return a, err
}
