// Package stdio turns the stdio containerd asks for (FIFO paths, file://
// and binary:// log URIs, or nothing) into the files a container process
// gets as fds 0, 1 and 2.
//
// For FIFOs the process writes and reads the FIFOs themselves, with no copy
// in the shim; the shim only holds the ends that keep the client's comings
// and goings from reaching the container: a read end of stdout and stderr
// (no SIGPIPE when the client goes away, and what was written waits for the
// next reader) and a write end of stdin (EOF only when CloseIO says so).
// Those read ends also tell how much output the client has not read yet,
// which the shim waits on before it reports an exit (see drain.go).
//
// It must not know about tasks, events or containers.
package stdio
