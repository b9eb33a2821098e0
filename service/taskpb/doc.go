// Package taskpb owns the wire encoding of the containerd messages the shim
// exchanges: the containerd.task.v3.Task requests and responses, the task
// events and their envelope for containerd.services.events.ttrpc.v1.Events,
// and the bootstrap parameters and result of the shim start protocol. The
// bytes it writes are identical to those of containerd's generated types
// marshalled deterministically, and it reads anything those types write.
//
// The encoding is written by hand on top of protowire so that the shim links
// neither the protobuf reflection runtime nor grpc. For the same reason this
// package must not import google.golang.org/protobuf/proto, any other
// protobuf package but protowire, grpc, or github.com/containerd/containerd/api
// outside its tests; the tests hold it to the generated types instead.
//
// The Go types keep the names of the generated ones, with plain Go values
// where the generated code has well-known types: time.Time for
// google.protobuf.Timestamp (zero means absent), *Any for google.protobuf.Any
// and Empty for google.protobuf.Empty.
package taskpb
