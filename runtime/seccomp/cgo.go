package seccomp

// The package uses cgo only so that fortify_musl.c is compiled and linked
// next to libseccomp (see that file); the Go code calls libseccomp through
// libseccomp-golang.

import "C"
