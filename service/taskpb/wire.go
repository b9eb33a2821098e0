package taskpb

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Message is a protobuf message that encodes itself.
type Message interface {
	// Marshal returns the encoding, fields in ascending number order and
	// proto3 zero values left out, as proto.Marshal would write it.
	Marshal() []byte
	// Unmarshal resets the message and decodes b into it.
	Unmarshal(b []byte) error
}

// message is what the helpers need to nest one message in another: merge
// decodes into the existing value, because protobuf merges a message field
// that occurs more than once rather than replacing it.
type message interface {
	Marshal() []byte
	merge(b []byte) error
}

// msgPtr lets the generic helpers allocate a nested message.
type msgPtr[T any] interface {
	*T
	message
}

// unmarshalError puts the package name on errors once, at the top level,
// so that nested errors read as a path: "taskpb: A.b: B.c: ...".
func unmarshalError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("taskpb: %w", err)
}

// Encoding. Each helper leaves out the proto3 zero value, as proto.Marshal
// does for fields without presence.

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendInt32 sign-extends, as protobuf encodes negative int32 and enum
// values in ten bytes.
func appendInt32(b []byte, num protowire.Number, v int32) []byte {
	return appendVarint(b, num, uint64(int64(v)))
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	return appendVarint(b, num, protowire.EncodeBool(v))
}

func appendString(b []byte, num protowire.Number, v string) []byte {
	if v == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendStrings writes every element, empty ones included: only singular
// fields have zero values to leave out.
func appendStrings(b []byte, num protowire.Number, v []string) []byte {
	for _, s := range v {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	return b
}

// appendInt32s writes a repeated enum packed, as proto3 does by default.
func appendInt32s(b []byte, num protowire.Number, v []int32) []byte {
	if len(v) == 0 {
		return b
	}
	var p []byte
	for _, x := range v {
		p = protowire.AppendVarint(p, uint64(int64(x)))
	}
	return appendBytes(b, num, p)
}

// appendEmbedded writes a present message, however empty its encoding.
func appendEmbedded(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendMessage[P msgPtr[T], T any](b []byte, num protowire.Number, m P) []byte {
	if m == nil {
		return b
	}
	return appendEmbedded(b, num, m.Marshal())
}

// appendMessages writes a nil element as an empty message so that the
// elements keep their positions.
func appendMessages[P msgPtr[T], T any](b []byte, num protowire.Number, ms []P) []byte {
	for _, m := range ms {
		var v []byte
		if m != nil {
			v = m.Marshal()
		}
		b = appendEmbedded(b, num, v)
	}
	return b
}

func appendAny(b []byte, num protowire.Number, a *Any) []byte {
	return appendMessage(b, num, a)
}

// appendTime writes a google.protobuf.Timestamp; the zero time is absent.
func appendTime(b []byte, num protowire.Number, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	var v []byte
	v = appendVarint(v, 1, uint64(t.Unix()))
	v = appendInt32(v, 2, int32(t.Nanosecond()))
	return appendEmbedded(b, num, v)
}

// appendStringMap writes a map<string, string> in sorted key order, which
// is what deterministic proto.Marshal does; entries always carry both key
// and value, even empty ones.
func appendStringMap(b []byte, num protowire.Number, m map[string]string) []byte {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		var e []byte
		e = protowire.AppendTag(e, 1, protowire.BytesType)
		e = protowire.AppendString(e, k)
		e = protowire.AppendTag(e, 2, protowire.BytesType)
		e = protowire.AppendString(e, m[k])
		b = appendEmbedded(b, num, e)
	}
	return b
}

// Decoding.

// field is one field of the message being decoded. The per-message switch
// calls one accessor for each field it knows; an accessor checks the wire
// type, consumes the value and records its length in n. A field no
// accessor consumed is unknown and skipped.
type field struct {
	msg string
	num protowire.Number
	typ protowire.Type
	buf []byte // the input from the field's value on
	n   int
	err error
}

var errWireType = errors.New("wrong wire type")

func (f *field) fail(name string, err error) {
	f.err = fmt.Errorf("%s.%s: %w", f.msg, name, err)
}

func (f *field) consume(name string, n int) bool {
	if n < 0 {
		f.fail(name, protowire.ParseError(n))
		return false
	}
	f.n = n
	return true
}

func (f *field) varint(name string) (uint64, bool) {
	if f.typ != protowire.VarintType {
		f.fail(name, fmt.Errorf("%w %d, want varint", errWireType, f.typ))
		return 0, false
	}
	v, n := protowire.ConsumeVarint(f.buf)
	return v, f.consume(name, n)
}

func (f *field) bytes(name string) ([]byte, bool) {
	if f.typ != protowire.BytesType {
		f.fail(name, fmt.Errorf("%w %d, want bytes", errWireType, f.typ))
		return nil, false
	}
	v, n := protowire.ConsumeBytes(f.buf)
	return v, f.consume(name, n)
}

// Integer conversions truncate like the generated code does.

func (f *field) uint32(dst *uint32, name string) {
	if v, ok := f.varint(name); ok {
		*dst = uint32(v)
	}
}

func (f *field) int32(dst *int32, name string) {
	if v, ok := f.varint(name); ok {
		*dst = int32(v)
	}
}

func (f *field) int64(dst *int64, name string) {
	if v, ok := f.varint(name); ok {
		*dst = int64(v)
	}
}

func (f *field) bool(dst *bool, name string) {
	if v, ok := f.varint(name); ok {
		*dst = protowire.DecodeBool(v)
	}
}

func (f *field) str(dst *string, name string) {
	if v, ok := f.bytes(name); ok {
		*dst = string(v)
	}
}

// byteSlice copies, so a decoded message never aliases the caller's
// buffer, which a transport may reuse.
func (f *field) byteSlice(dst *[]byte, name string) {
	if v, ok := f.bytes(name); ok {
		*dst = append([]byte(nil), v...)
	}
}

func (f *field) strs(dst *[]string, name string) {
	if v, ok := f.bytes(name); ok {
		*dst = append(*dst, string(v))
	}
}

// int32s reads a repeated enum in either encoding: a decoder must accept
// packed and unpacked alike, whatever the writer chose.
func (f *field) int32s(dst *[]int32, name string) {
	if f.typ == protowire.VarintType {
		var v int32
		if f.int32(&v, name); f.err == nil {
			*dst = append(*dst, v)
		}
		return
	}
	p, ok := f.bytes(name)
	for ok && len(p) > 0 {
		v, n := protowire.ConsumeVarint(p)
		if n < 0 {
			f.fail(name, protowire.ParseError(n))
			return
		}
		*dst = append(*dst, int32(v))
		p = p[n:]
	}
}

func (f *field) stringMap(dst *map[string]string, name string) {
	v, ok := f.bytes(name)
	if !ok {
		return
	}
	var key, val string
	err := decode(f.msg+"."+name, v, func(g *field) {
		switch g.num {
		case 1:
			g.str(&key, "key")
		case 2:
			g.str(&val, "value")
		}
	})
	if err != nil {
		f.err = err
		return
	}
	if *dst == nil {
		*dst = make(map[string]string)
	}
	(*dst)[key] = val
}

// time reads a google.protobuf.Timestamp, merging into an earlier
// occurrence of the field as protobuf does for any message field.
func (f *field) time(dst *time.Time, name string) {
	v, ok := f.bytes(name)
	if !ok {
		return
	}
	var sec int64
	var nsec int32
	if !dst.IsZero() {
		sec, nsec = dst.Unix(), int32(dst.Nanosecond())
	}
	err := decode("Timestamp", v, func(g *field) {
		switch g.num {
		case 1:
			g.int64(&sec, "seconds")
		case 2:
			g.int32(&nsec, "nanos")
		}
	})
	if err != nil {
		f.fail(name, err)
		return
	}
	*dst = time.Unix(sec, int64(nsec)).UTC()
}

func (f *field) any(dst **Any, name string) {
	decodeMessage(f, dst, name)
}

// decodeMessage reads a singular message field, merging into the message
// already there.
func decodeMessage[P msgPtr[T], T any](f *field, dst *P, name string) {
	v, ok := f.bytes(name)
	if !ok {
		return
	}
	if *dst == nil {
		*dst = new(T)
	}
	if err := (*dst).merge(v); err != nil {
		f.fail(name, err)
	}
}

func decodeMessages[P msgPtr[T], T any](f *field, dst *[]P, name string) {
	v, ok := f.bytes(name)
	if !ok {
		return
	}
	m := P(new(T))
	if err := m.merge(v); err != nil {
		f.fail(name, err)
		return
	}
	*dst = append(*dst, m)
}

// decode runs the field loop shared by every message: fields is the
// message's switch on field numbers.
func decode(msg string, b []byte, fields func(*field)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%s: tag: %w", msg, protowire.ParseError(n))
		}
		f := field{msg: msg, num: num, typ: typ, buf: b[n:]}
		fields(&f)
		if f.err != nil {
			return f.err
		}
		if f.n == 0 {
			// No field value is empty, so nothing consumed means the
			// switch does not know this field.
			if f.n = protowire.ConsumeFieldValue(num, typ, f.buf); f.n < 0 {
				return fmt.Errorf("%s: unknown field %d: %w", msg, num, protowire.ParseError(f.n))
			}
		}
		b = f.buf[f.n:]
	}
	return nil
}
