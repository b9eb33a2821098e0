package stdio

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func openOut(t *testing.T) (*IO, *os.File, *os.File) {
	t.Helper()
	path := mkfifo(t, "stdout")
	i, err := Open(context.Background(), Config{Stdout: path}, Owner{ID: "c"}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i.Close() })
	client, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	_, out, _ := i.Files()
	return i, out, client
}

// The wait lasts until the client has read the last byte, not until the
// process is done writing.
func TestWaitReadWaitsForTheClient(t *testing.T) {
	i, out, client := openOut(t)
	if _, err := out.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	i.CloseProcessSide() // the process has exited
	if n := i.Unread(); n != 1000 {
		t.Fatalf("unread %d, want 1000", n)
	}
	done := make(chan bool, 1)
	go func() { done <- i.waitRead(5*time.Second, 10*time.Second) }()
	select {
	case <-done:
		t.Fatal("returned while the output was unread")
	case <-time.After(200 * time.Millisecond):
	}
	b, err := io.ReadAll(io.LimitReader(client, 1000))
	if err != nil || len(b) != 1000 {
		t.Fatalf("client read %d: %v", len(b), err)
	}
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("reported unread output after the client read it all")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("still waiting after the client read everything")
	}
}

// A client that does not read does not hold the exit for long.
func TestWaitReadGivesUpOnAStalledClient(t *testing.T) {
	i, out, _ := openOut(t)
	if _, err := out.Write([]byte("never read\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if i.waitRead(100*time.Millisecond, 10*time.Second) {
		t.Fatal("reported drained with nobody reading")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}

func TestWaitReadNothingPending(t *testing.T) {
	i, err := Open(context.Background(), Config{}, Owner{ID: "c"}, waitMonitor{})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	if i.Unread() != 0 || !i.waitRead(time.Second, time.Second) {
		t.Fatal("null IO has unread output")
	}
}
