// Package taskv3 is containerd's task API v3 (containerd.task.v3, the
// shim's own service): its protobuf messages and its ttrpc service,
// generated here from containerd's runtime/task/v3/shim.proto in the
// containerd/containerd/api module by hack/gen-taskv3.sh.
//
// It exists because containerd's published api/runtime/task/v3 package
// also holds the grpc service, and importing it links all of grpc into
// every shim process. It owns nothing but generated code: edit the
// generator, never the .pb.go files.
//
// It registers the same proto file and message names as containerd's
// package, so no binary may link both: the shim never imports
// containerd's, and tests that use containerd's task client run the shim
// as a separate process.
package taskv3

//go:generate ../../hack/gen-taskv3.sh
