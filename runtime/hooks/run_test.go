package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func testState() *specs.State {
	return &specs.State{Version: specs.Version, ID: "c1", Status: specs.StateCreating, Pid: 42, Bundle: "/b", Annotations: map[string]string{"a": "b"}}
}

func TestHookGetsStateArgsAndEnv(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	p := script(t, `cat > "$OUT.state"; echo "$0|$1|$2|$FOO|${HOME:-nohome}" > "$OUT"`)
	h := specs.Hook{Path: p, Args: []string{"argv0", "one", "two"}, Env: []string{"FOO=bar", "OUT=" + out}}
	if err := Run(context.Background(), Direct{}, h, testState(), Options{DefaultEnv: []string{"HOME=/x"}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// $0 of a script is its path; argv[0] reaches a binary as given.
	if got := strings.TrimSpace(string(b)); got != p+"|one|two|bar|nohome" {
		t.Fatalf("args/env %q", got)
	}
	var st specs.State
	b, _ = os.ReadFile(out + ".state")
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("state %q: %v", b, err)
	}
	if st.ID != "c1" || st.Status != specs.StateCreating || st.Pid != 42 || st.Bundle != "/b" || st.Annotations["a"] != "b" || st.Version != specs.Version {
		t.Fatalf("state %+v", st)
	}
}

func TestHookArgv0AndDefaultEnv(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	// /proc/self/cmdline of the shell shows argv as the hook got it.
	p := script(t, `tr '\0' ' ' < /proc/$$/cmdline > "$OUT"; echo "$HOME" >> "$OUT"`)
	h := specs.Hook{Path: p}
	if err := Run(context.Background(), Direct{}, h, testState(), Options{DefaultEnv: []string{"OUT=" + out, "HOME=/home/x"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if got := string(b); got != "/bin/sh "+p+" /home/x\n" {
		t.Fatalf("got %q", got)
	}
	// No env and no default: empty, not the runtime's own.
	t.Setenv("RAIND_HOOK_LEAK", "1")
	p = script(t, `env > `+out)
	if err := Run(context.Background(), Direct{}, specs.Hook{Path: p}, testState(), Options{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); strings.Contains(string(b), "RAIND_HOOK_LEAK") {
		t.Fatalf("hook inherited the runtime's environment: %q", b)
	}
}

func TestHookFailure(t *testing.T) {
	p := script(t, `echo "no network for you" >&2; exit 3`)
	err := RunAll(context.Background(), Direct{}, "createRuntime", []specs.Hook{{Path: "/bin/true"}, {Path: p}}, testState(), Options{})
	if err == nil || !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"createRuntime hook #1", p, "status 3", "no network for you"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := Run(context.Background(), Direct{}, specs.Hook{Path: "/nonexistent/hook"}, testState(), Options{}); err == nil {
		t.Fatal("missing hook binary ran")
	}
	if err := Run(context.Background(), Direct{}, specs.Hook{Path: "relative"}, testState(), Options{}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("relative path: %v", err)
	}
	zero := 0
	if err := Run(context.Background(), Direct{}, specs.Hook{Path: "/bin/true", Timeout: &zero}, testState(), Options{}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("zero timeout: %v", err)
	}
}

func TestHookTimeoutKills(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	p := script(t, `echo $$ > `+pidFile+`; exec sleep 60`)
	one := 1
	start := time.Now()
	err := Run(context.Background(), Direct{}, specs.Hook{Path: p, Timeout: &one}, testState(), Options{})
	if err == nil || !strings.Contains(err.Error(), "timed out after 1s") || !strings.Contains(err.Error(), "SIGKILL") {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d < time.Second || d > 10*time.Second {
		t.Fatalf("returned after %s", d)
	}
	b, _ := os.ReadFile(pidFile)
	var pid int
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &pid); err != nil || pid <= 0 {
		t.Fatalf("pid file %q", b)
	}
	if err := unix.Kill(pid, 0); err == nil {
		t.Fatalf("hook %d still exists", pid)
	}
	// A hook within its timeout is fine.
	ten := 10
	if err := Run(context.Background(), Direct{}, specs.Hook{Path: "/bin/true", Timeout: &ten}, testState(), Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestHookContextKills(t *testing.T) {
	p := script(t, `exec sleep 60`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := Run(ctx, Direct{}, specs.Hook{Path: p}, testState(), Options{}); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err %v", err)
	}
}

// A hook that leaves a child holding its output does not make the runner
// wait for that child.
func TestHookBackgroundChildDoesNotBlock(t *testing.T) {
	p := script(t, `sleep 30 & echo started`)
	start := time.Now()
	if err := Run(context.Background(), Direct{}, specs.Hook{Path: p}, testState(), Options{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("runner waited %s for the hook's child", d)
	}
}

// Under a reaper that owns wait4, the runner gets the exit through the
// reaper's Monitor: the status is right, for success, failure and timeout.
func TestHookUnderReaper(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, unix.SIGCHLD)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-sigs:
				_ = reaper.Reap()
			case <-done:
				return
			}
		}
	}()
	defer func() { signal.Stop(sigs); close(done) }()
	out := filepath.Join(t.TempDir(), "out")
	p := script(t, `cat > `+out)
	for i := 0; i < 20; i++ {
		if err := Run(context.Background(), reaper.Default, specs.Hook{Path: p}, testState(), Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), `"id":"c1"`) {
		t.Fatalf("state %q", b)
	}
	if err := Run(context.Background(), reaper.Default, specs.Hook{Path: "/bin/false"}, testState(), Options{}); err == nil || !strings.Contains(err.Error(), "status 1") {
		t.Fatalf("false: %v", err)
	}
	one := 1
	if err := Run(context.Background(), reaper.Default, specs.Hook{Path: script(t, "exec sleep 60"), Timeout: &one}, testState(), Options{}); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("timeout: %v", err)
	}
}
