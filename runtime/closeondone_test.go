package runtime

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

type countingCloser struct{ n atomic.Int32 }

func (c *countingCloser) Close() error {
	c.n.Add(1)
	return nil
}

// A request's context ends right after its handler returns. Once stop has
// said the socket is ours, that end must not close it: an init whose sync
// socket closes exits before Start (seen under load as "process is
// stopped" from Start, one container in a few hundred).
func TestCloseOnDoneStopWins(t *testing.T) {
	c := &countingCloser{}
	for i := 0; i < 500; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		stop := closeOnDone(ctx, c)
		if !stop() {
			t.Fatal("stop lost to a context that had not ended")
		}
		cancel()
	}
	time.Sleep(50 * time.Millisecond)
	if n := c.n.Load(); n != 0 {
		t.Fatalf("closed %d times after stop", n)
	}
}

func TestCloseOnDoneClosesOnCancel(t *testing.T) {
	c := &countingCloser{}
	ctx, cancel := context.WithCancel(context.Background())
	stop := closeOnDone(ctx, c)
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for c.n.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if c.n.Load() != 1 {
		t.Fatalf("closed %d times after cancel, want 1", c.n.Load())
	}
	if stop() {
		t.Fatal("stop claimed the socket after the context closed it")
	}
}
