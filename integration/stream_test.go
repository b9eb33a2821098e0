package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"google.golang.org/protobuf/proto"
)

// TestStdinStreamRoundTrip streams 20 MiB through `cat` as the container's
// init, without a terminal, and checks it comes back unchanged.
func TestStdinStreamRoundTrip(t *testing.T) {
	data := make([]byte, 20<<20)
	rand.Read(data)
	want := sha256.Sum256(data)
	t.Run("ctr", func(t *testing.T) {
		in := filepath.Join(t.TempDir(), "in")
		if err := os.WriteFile(in, data, 0o600); err != nil {
			t.Fatal(err)
		}
		// ctr sends CloseIO when its stdin ends after the task exists;
		// the sleep keeps the end of stdin after that point.
		script := "(sleep 1; cat " + in + ") | " + strings.Join(ctrCmd("run", "--rm", "--runtime", runtimeName, "--rootfs", busyboxRootfs(t), newID("stream"), "cat").Args, " ")
		cmd := exec.Command("sh", "-c", script)
		var out bytes.Buffer
		cmd.Stdout = &out
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("ctr: %v", err)
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("ctr run did not finish")
		}
		if got := sha256.Sum256(out.Bytes()); got != want {
			t.Fatalf("%d bytes back, sha256 %s", out.Len(), hex.EncodeToString(got[:]))
		}
	})
	t.Run("client", func(t *testing.T) {
		ctx := testCtx(t, time.Minute)
		c := newClient(t)
		ctr, err := c.NewContainer(ctx, newID("stream"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("cat")), containerd.WithRuntime(runtimeName, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer ctr.Delete(context.WithoutCancel(ctx))
		var out syncBuffer
		task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(bytes.NewReader(data), &out, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		ch, _ := task.Wait(ctx)
		if err := task.Start(ctx); err != nil {
			t.Fatal(err)
		}
		// The client's copy of a finite reader ends; CloseIO then ends cat.
		if err := task.CloseIO(ctx, containerd.WithStdinCloser); err != nil {
			t.Fatal(err)
		}
		<-ch
		if _, err := task.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		if got := sha256.Sum256([]byte(out.String())); got != want {
			t.Fatalf("%d bytes back", len(out.String()))
		}
	})
}

// TestClientLogging uses the Go client's file and binary log creators.
func TestClientLogging(t *testing.T) {
	dir := t.TempDir()
	run := func(creator cio.Creator) {
		ctx := testCtx(t, time.Minute)
		c := newClient(t)
		ctr, err := c.NewContainer(ctx, newID("clog"), containerd.WithNewSpec(oci.WithRootFSPath(busyboxRootfs(t)), oci.WithProcessArgs("sh", "-c", "echo to-out; echo to-err >&2")), containerd.WithRuntime(runtimeName, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer ctr.Delete(context.WithoutCancel(ctx))
		task, err := ctr.NewTask(ctx, creator)
		if err != nil {
			t.Fatal(err)
		}
		ch, _ := task.Wait(ctx)
		if err := task.Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-ch
		if _, err := task.Delete(ctx); err != nil {
			t.Fatal(err)
		}
	}
	logFile := filepath.Join(dir, "file.log")
	run(cio.LogFile(logFile))
	b, _ := os.ReadFile(logFile)
	if !strings.Contains(string(b), "to-out\n") || !strings.Contains(string(b), "to-err\n") {
		t.Fatalf("file log %q", b)
	}
	logger := filepath.Join(dir, "logger.sh")
	script := "#!/bin/sh\ncat <&3 5>&- > " + dir + "/bout &\ncat <&4 5>&- > " + dir + "/berr &\nexec 5>&-\nwait\n"
	if err := os.WriteFile(logger, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	run(cio.BinaryIO(logger, nil))
	waitFor(t, "binary logger output", func() bool {
		o, _ := os.ReadFile(filepath.Join(dir, "bout"))
		e, _ := os.ReadFile(filepath.Join(dir, "berr"))
		return string(o) == "to-out\n" && string(e) == "to-err\n"
	})
}

// TestExecKillViaCtr: 137 after `ctr task kill --exec-id`.
func TestExecKillViaCtr(t *testing.T) {
	id := newID("xk")
	if _, errOut, code := runCtr(t, 30*time.Second, "", "run", "-d", "--runtime", runtimeName, "--rootfs", busyboxRootfs(t), id, "sleep", "1000"); code != 0 {
		t.Fatalf("run -d: %s", errOut)
	}
	t.Cleanup(func() {
		runCtr(t, 20*time.Second, "", "task", "kill", "-s", "SIGKILL", id)
		runCtr(t, 20*time.Second, "", "task", "delete", "-f", id)
		runCtr(t, 20*time.Second, "", "container", "rm", id)
	})
	waitRunning(t, id)
	done := make(chan int, 1)
	go func() {
		_, _, code := runCtr(t, 60*time.Second, "", "task", "exec", "--exec-id", "victim", id, "sleep", "100")
		done <- code
	}()
	waitFor(t, "exec to run", func() bool {
		out, _, _ := runCtr(t, 10*time.Second, "", "task", "ps", id)
		return strings.Contains(out, "victim")
	})
	if _, errOut, code := runCtr(t, 20*time.Second, "", "task", "kill", "--exec-id", "victim", "-s", "SIGKILL", id); code != 0 {
		t.Fatalf("kill: %s", errOut)
	}
	if code := <-done; code != 137 {
		t.Fatalf("ctr task exec exited %d, want 137", code)
	}
}

// TestDeleteActionIdempotent runs the shim's delete action twice on a
// bundle whose container is gone: both succeed.
func TestDeleteActionIdempotent(t *testing.T) {
	parent := t.TempDir()
	id := newID("gone")
	bundle := filepath.Join(parent, id)
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := `{"ociVersion":"1.2.0","process":{"args":["true"]},"root":{"path":"rootfs"},"linux":{"cgroupsPath":"/` + testNamespace + `/` + id + `"}}`
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		cmd := exec.Command(shimBinary(), "-namespace", testNamespace, "-address", testEnv.socket, "-id", id, "-bundle", bundle, "delete")
		cmd.Dir = bundle
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
		var resp taskAPI.DeleteResponse
		if err := proto.Unmarshal(out, &resp); err != nil || resp.ExitStatus != 137 || resp.ExitedAt == nil {
			t.Fatalf("delete %d: response %v (%v)", i, &resp, err)
		}
	}
}
