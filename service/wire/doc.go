// Package wire is the shim's ttrpc wire protocol: framing, the Request and
// Response messages, a unary client and a unary server, wire-compatible with
// github.com/containerd/ttrpc (v1.2.x), so containerd talks to the shim
// exactly as it talks to any ttrpc server.
//
// It exists so the shim does not link google.golang.org/grpc or the protobuf
// reflection runtime, which the ttrpc library pulls in. It must therefore not
// import grpc, protobuf reflection (proto, protoreflect, known types) or
// errgrpc; messages are encoded by hand with protowire. It does not implement
// streaming: a request that asks for a stream is answered with an
// Unimplemented status. Payloads are opaque bytes; encoding them is the
// caller's business.
package wire
