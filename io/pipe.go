package stdio

import (
	"os"

	"golang.org/x/sys/unix"
)

// pipeBufferSize is what the shim asks for on every pipe and FIFO it sets
// up. A default pipe holds 64 KiB, so a process writing in large blocks to
// a reader that takes 32 KiB at a time (containerd's cio does) is woken
// for every few pages; at 256 KiB the same transfer needs a fraction of
// the wake-ups and moves about three times the data per second. It is
// under the default fs.pipe-max-size (1 MiB), so it needs no privilege.
//
// The cost is bounded and lands where it belongs: the kernel allocates a
// pipe's pages only as data is written, and charges them to the writer's
// memory cgroup, so output a client has not read yet counts against the
// container, up to this size per stream.
const pipeBufferSize = 256 << 10

// growPipe raises fd's pipe buffer to pipeBufferSize. A pipe that is
// already larger is left alone, and a refusal (fd is not a pipe, or
// fs.pipe-user-pages-* limits an unprivileged shim) only costs throughput,
// so it is not an error.
func growPipe(fd uintptr) {
	cur, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0)
	if err != nil || cur >= pipeBufferSize {
		return
	}
	_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeBufferSize)
}

// growPipeFile is growPipe for an *os.File. It goes through SyscallConn
// because File.Fd would switch the file to blocking mode and take it out
// of Go's poller, which is what lets Close interrupt a pending read.
func growPipeFile(f *os.File) {
	sc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = sc.Control(growPipe)
}
