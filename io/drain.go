package stdio

import (
	"time"

	"golang.org/x/sys/unix"
)

// The process writes its stdout and stderr FIFOs itself, so when it exits
// its last output may still sit in the FIFO, unread by the client. A
// client learns of the exit and then closes its ends (containerd's client
// does so right after DeleteProcess, and before Delete for a task), which
// would throw that output away; a shim that copies, like the runc shim,
// narrows the window only by being slower. So the exit is made known once
// the client has read what the process wrote, or has stopped reading.
const (
	// drainStall is how long the unread byte count may stay the same
	// before the client is taken to have gone: a live client reads within
	// milliseconds of a write.
	drainStall = time.Second
	// drainLimit bounds the whole wait, for a client that reads, but
	// slower than it should.
	drainLimit = 30 * time.Second
)

// Unread returns the number of bytes in the stdout and stderr FIFOs that
// no reader has taken yet. The shim's own read ends never read, so these
// bytes are waiting for the client.
func (i *IO) Unread() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	n := 0
	for _, h := range i.holds {
		sc, err := h.SyscallConn()
		if err != nil {
			continue
		}
		_ = sc.Control(func(fd uintptr) {
			// TIOCINQ is FIONREAD's number on Linux, and pipes answer it.
			if v, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ); err == nil {
				n += v
			}
		})
	}
	return n
}

// WaitRead waits until the client has read everything in the output
// FIFOs. It gives up when the client makes no progress for drainStall or
// after drainLimit, and reports whether everything was read.
func (i *IO) WaitRead() bool {
	return i.waitRead(drainStall, drainLimit)
}

func (i *IO) waitRead(stall, limit time.Duration) bool {
	start := time.Now()
	last, lastChange := i.Unread(), start
	for delay := time.Millisecond; ; delay = min(2*delay, 20*time.Millisecond) {
		if last == 0 {
			return true
		}
		now := time.Now()
		if now.Sub(lastChange) >= stall || now.Sub(start) >= limit {
			return false
		}
		time.Sleep(delay)
		if n := i.Unread(); n != last {
			last, lastChange = n, time.Now()
		}
	}
}
