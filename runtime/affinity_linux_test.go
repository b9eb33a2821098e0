package runtime

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"
)

// startOnly is a Monitor that only starts: the test waits with exec.Cmd.
type startOnly struct{}

func (startOnly) Start(c *exec.Cmd) (chan runc.Exit, error) { return nil, c.Start() }
func (startOnly) Wait(c *exec.Cmd, _ chan runc.Exit) (int, error) {
	err := c.Wait()
	return c.ProcessState.ExitCode(), err
}
func (startOnly) Unsubscribe(chan runc.Exit) {}

// TestStartChildAffinity: the child starts on the CPUs asked for, and the
// caller's own affinity is left as it was.
func TestStartChildAffinity(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	if all.Count() < 2 {
		t.Skip("needs two CPUs")
	}
	last := -1
	for i := 0; i < 1024; i++ {
		if all.IsSet(i) {
			last = i
		}
	}
	var one unix.CPUSet
	one.Set(last)
	var out bytes.Buffer
	cmd := exec.Command("/bin/sh", "-c", "grep Cpus_allowed_list /proc/self/status")
	cmd.Stdout = &out
	ec, err := startChild(startOnly{}, cmd, &one)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (startOnly{}).Wait(cmd, ec); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(strings.TrimPrefix(out.String(), "Cpus_allowed_list:")); got != strconv.Itoa(last) {
		t.Errorf("child ran on %q, want %d", got, last)
	}
	var now unix.CPUSet
	if err := unix.SchedGetaffinity(0, &now); err != nil || now != all {
		t.Errorf("caller's affinity changed: %v", err)
	}
}
