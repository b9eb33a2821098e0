package wire

import (
	"encoding/binary"
	"fmt"
	"io"
)

const (
	frameHeaderLen = 10
	// maxMessageLen is the largest payload ttrpc accepts in one frame; both
	// sides refuse bigger ones, so we must too to stay interoperable.
	maxMessageLen = 4 << 20
)

type messageType uint8

const (
	typeRequest  messageType = 1
	typeResponse messageType = 2
	typeData     messageType = 3
)

// Request flags. A unary request carries neither; either one marks the
// request as the start of a stream, which this package does not serve.
const (
	flagRemoteClosed uint8 = 0x1
	flagRemoteOpen   uint8 = 0x2
)

type frameHeader struct {
	length   uint32
	streamID uint32
	typ      messageType
	flags    uint8
}

// frameTooLargeError reports a frame whose payload was skipped because it is
// over maxMessageLen. The stream is still in sync, so the reader can answer
// on that stream and go on.
type frameTooLargeError struct {
	length uint32
}

func (e frameTooLargeError) Error() string {
	// Same text as ttrpc, so peers log the same thing whichever side they use.
	return fmt.Sprintf("message length %d exceed maximum message size of %d", e.length, maxMessageLen)
}

// readFrame reads one frame. A payload over maxMessageLen is discarded
// without being buffered and reported as frameTooLargeError together with
// the header; any other error leaves the stream unusable.
func readFrame(r io.Reader) (frameHeader, []byte, error) {
	var b [frameHeaderLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return frameHeader{}, nil, err
	}
	h := frameHeader{
		length:   binary.BigEndian.Uint32(b[0:4]),
		streamID: binary.BigEndian.Uint32(b[4:8]),
		typ:      messageType(b[8]),
		flags:    b[9],
	}
	if h.length > maxMessageLen {
		// io.Discard reads through a small pooled buffer, so a hostile
		// length costs time, not memory.
		n, err := io.CopyN(io.Discard, r, int64(h.length))
		if err != nil {
			if err == io.EOF && n < int64(h.length) {
				err = io.ErrUnexpectedEOF
			}
			return h, nil, fmt.Errorf("discarding oversized frame: %w", err)
		}
		return h, nil, frameTooLargeError{length: h.length}
	}
	if h.length == 0 {
		return h, nil, nil
	}
	// A fresh buffer per frame: handlers keep slices of it after the next
	// frame is read, so it cannot be reused.
	p := make([]byte, h.length)
	if _, err := io.ReadFull(r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	return h, p, nil
}

// appendFrame builds header and payload in one buffer so that a frame goes
// out in a single Write and cannot interleave with another writer's frame.
func appendFrame(dst []byte, streamID uint32, typ messageType, flags uint8, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.BigEndian.AppendUint32(dst, streamID)
	dst = append(dst, byte(typ), flags)
	return append(dst, payload...)
}
