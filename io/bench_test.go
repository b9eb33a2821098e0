package stdio

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// BenchmarkStdoutFIFO measures the non-tty path: the process writes the
// client's FIFO itself, with no copy in the shim.
func BenchmarkStdoutFIFO(b *testing.B) {
	path := mkfifoB(b)
	i, err := Open(context.Background(), Config{Stdout: path}, Owner{ID: "b"}, waitMonitor{})
	if err != nil {
		b.Fatal(err)
	}
	defer i.Close()
	client, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	_, out, _ := i.Files()
	benchCopy(b, out, client)
}

// BenchmarkTTYRelay measures the terminal path: a separate process (dd, as
// a container's program would be) writes the pty slave; the relay copies
// the master into the FIFO; another process reads it. Writer or reader
// goroutines in the benchmark's own process would measure Go's scheduler
// handing a P back after a blocking write instead of the relay.
func BenchmarkTTYRelay(b *testing.B) {
	dd, err := exec.LookPath("dd")
	if err != nil {
		b.Skip("no dd")
	}
	master, slavePath, err := console.NewPty()
	if err != nil {
		b.Fatal(err)
	}
	sfd, err := unix.Open(slavePath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	slave := os.NewFile(uintptr(sfd), slavePath)
	slaveOpen := true
	defer func() {
		if slaveOpen {
			slave.Close()
		}
	}()
	// Raw output: no newline translation, so bytes in equal bytes out.
	if err := console.ClearONLCR(slave.Fd()); err != nil {
		b.Fatal(err)
	}
	path := mkfifoB(b)
	i, err := Open(context.Background(), Config{Stdout: path, Terminal: true}, Owner{ID: "b"}, waitMonitor{})
	if err != nil {
		b.Fatal(err)
	}
	i.CloseProcessSide()
	ep, err := console.NewEpoller()
	if err != nil {
		b.Fatal(err)
	}
	go ep.Wait()
	defer ep.Close()
	mf := os.NewFile(master.Fd(), "ptmx")
	if err := i.AttachConsole(mf, ep); err != nil {
		b.Fatal(err)
	}
	defer i.Close()
	const chunk = 32 << 10
	b.SetBytes(chunk)
	b.ResetTimer()
	// The client is another process too, as containerd is.
	client := exec.Command("head", "-c", strconv.Itoa(b.N*chunk), path)
	if err := client.Start(); err != nil {
		b.Fatal(err)
	}
	writer := exec.Command(dd, "if=/dev/zero", "bs=32k", "count="+strconv.Itoa(b.N))
	writer.Stdout = slave
	if err := writer.Start(); err != nil {
		b.Fatal(err)
	}
	if err := client.Wait(); err != nil {
		b.Fatal(err)
	}
	if err := writer.Wait(); err != nil {
		b.Fatal(err)
	}
	// The process's exit closes the last slave fd, and the relay then
	// ends at once (EIO). With the slave still open, the deferred Close
	// would wait out consoleDrainTimeout, as it must for a daemonized
	// child holding the terminal; an earlier version of this benchmark
	// did that inside the timed region and reported 12 MB/s.
	b.StopTimer()
	slave.Close()
	slaveOpen = false
}

func mkfifoB(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	p := dir + "/fifo"
	if err := mkfifoAt(p); err != nil {
		b.Fatal(err)
	}
	return p
}

// benchCopy writes b.N chunks of 32 KiB into w and reads them from r.
func benchCopy(b *testing.B, w io.Writer, r io.Reader) {
	const chunk = 32 << 10
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ResetTimer()
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, r, int64(b.N)*chunk)
		done <- err
	}()
	for n := 0; n < b.N; n++ {
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
