package wire

import (
	"context"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/containerd/errdefs"
)

// gRPC status codes, by value: ttrpc carries google.rpc.Status, whose codes
// are gRPC's, and importing grpc/codes is what this package avoids.
const (
	codeOK                 int32 = 0
	codeCanceled           int32 = 1
	codeUnknown            int32 = 2
	codeInvalidArgument    int32 = 3
	codeDeadlineExceeded   int32 = 4
	codeNotFound           int32 = 5
	codeAlreadyExists      int32 = 6
	codePermissionDenied   int32 = 7
	codeResourceExhausted  int32 = 8
	codeFailedPrecondition int32 = 9
	codeAborted            int32 = 10
	codeOutOfRange         int32 = 11
	codeUnimplemented      int32 = 12
	codeInternal           int32 = 13
	codeUnavailable        int32 = 14
	codeDataLoss           int32 = 15
	codeUnauthenticated    int32 = 16
)

// statusFromError turns a handler error into the status containerd expects
// on the wire, so its errgrpc.ToNative gives back the same errdefs kind.
func statusFromError(err error) *rpcStatus {
	msg := err.Error()
	if !utf8.ValidString(msg) {
		// An invalid string would make the peer reject the whole response.
		msg = strings.ToValidUTF8(msg, "\uFFFD")
	}
	return &rpcStatus{code: codeFromError(err), message: msg}
}

func codeFromError(err error) int32 {
	switch {
	case errdefs.IsNotFound(err):
		return codeNotFound
	case errdefs.IsAlreadyExists(err):
		return codeAlreadyExists
	case errdefs.IsInvalidArgument(err):
		return codeInvalidArgument
	case errdefs.IsFailedPrecondition(err), errdefs.IsConflict(err), errdefs.IsNotModified(err):
		// errgrpc.ToGRPC sends conflict and not-modified as
		// FailedPrecondition too; ToNative recovers them from the message.
		return codeFailedPrecondition
	case errdefs.IsNotImplemented(err):
		return codeUnimplemented
	case errdefs.IsUnavailable(err):
		return codeUnavailable
	case errdefs.IsPermissionDenied(err):
		return codePermissionDenied
	case errdefs.IsResourceExhausted(err):
		return codeResourceExhausted
	case errdefs.IsAborted(err):
		return codeAborted
	case errdefs.IsOutOfRange(err):
		return codeOutOfRange
	case errdefs.IsDataLoss(err):
		return codeDataLoss
	case errdefs.IsUnauthorized(err):
		return codeUnauthenticated
	case errdefs.IsCanceled(err):
		return codeCanceled
	case errdefs.IsDeadlineExceeded(err):
		return codeDeadlineExceeded
	case errdefs.IsInternal(err):
		return codeInternal
	default:
		return codeUnknown
	}
}

// statusError is a non-OK status received by the client. Its text is the
// status message unchanged and it unwraps to the errdefs (or context) error
// of its code, so errdefs.IsNotFound and errors.Is work on it.
type statusError struct {
	msg  string
	kind error
}

func (e *statusError) Error() string {
	if e.msg == "" {
		return e.kind.Error()
	}
	return e.msg
}

func (e *statusError) Unwrap() error { return e.kind }

// errorFromStatus mirrors errgrpc.ToNative's choice of error class for each
// code; st must not be OK.
func errorFromStatus(st *rpcStatus) error {
	return &statusError{msg: st.message, kind: kindOfCode(st.code, st.message)}
}

func kindOfCode(code int32, msg string) error {
	switch code {
	case codeCanceled:
		return context.Canceled
	case codeInvalidArgument:
		return errdefs.ErrInvalidArgument
	case codeDeadlineExceeded:
		return context.DeadlineExceeded
	case codeNotFound:
		return errdefs.ErrNotFound
	case codeAlreadyExists:
		return errdefs.ErrAlreadyExists
	case codePermissionDenied:
		return errdefs.ErrPermissionDenied
	case codeResourceExhausted:
		return errdefs.ErrResourceExhausted
	case codeFailedPrecondition:
		// Conflict and not-modified travel as FailedPrecondition; like
		// ToNative, tell them apart by the message's last element.
		switch {
		case hasErrorSuffix(msg, errdefs.ErrConflict):
			return errdefs.ErrConflict
		case hasErrorSuffix(msg, errdefs.ErrNotModified):
			return errdefs.ErrNotModified
		}
		return errdefs.ErrFailedPrecondition
	case codeAborted:
		return errdefs.ErrAborted
	case codeOutOfRange:
		return errdefs.ErrOutOfRange
	case codeUnimplemented:
		return errdefs.ErrNotImplemented
	case codeInternal:
		return errdefs.ErrInternal
	case codeUnavailable:
		return errdefs.ErrUnavailable
	case codeDataLoss:
		return errdefs.ErrDataLoss
	case codeUnauthenticated:
		return errdefs.ErrUnauthenticated
	default:
		return errdefs.ErrUnknown
	}
}

func hasErrorSuffix(msg string, kind error) bool {
	k := kind.Error()
	return msg == k || strings.HasSuffix(msg, ": "+k)
}

// errTooLarge is how both sides refuse a message over maxMessageLen.
func errTooLarge(n int) error {
	return &statusError{
		msg:  frameTooLargeError{length: uint32(min(int64(n), math.MaxUint32))}.Error(),
		kind: errdefs.ErrResourceExhausted,
	}
}
