// Package integration drives raind through a real containerd: a private
// daemon with its own root, state and socket, started by TestMain and
// stopped when the tests end. It must never touch the host's containerd.
package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	runtimeName   = "io.containerd.raind.v2"
	testNamespace = "raind-test"
)

// env is what TestMain set up; tests only read it.
type env struct {
	repo, cache, dir, socket string
}

func (e env) ctr() string      { return filepath.Join(e.cache, "bin", "ctr") }
func (e env) rootfs() string   { return filepath.Join(e.cache, "rootfs", "busybox") }
func (e env) imageTar() string { return filepath.Join(e.cache, "busybox.tar") }

var testEnv env

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getuid() != 0 || os.Getenv("RAIND_SKIP_INTEGRATION") == "1" {
		fmt.Println("integration: skipped (needs root; RAIND_SKIP_INTEGRATION unset)")
		return 0
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cache := os.Getenv("RAIND_CACHE")
	if cache == "" {
		cache = filepath.Join(os.Getenv("HOME"), ".cache", "raind")
	}
	build := exec.Command("go", "build", "-o", filepath.Join(repo, "bin", "containerd-shim-raind-v2"), "./cmd/containerd-shim-raind-v2")
	build.Dir = repo
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build shim:", err)
		return 1
	}
	deps := exec.Command(filepath.Join(repo, "hack", "deps.sh"))
	deps.Env = append(os.Environ(), "RAIND_CACHE="+cache)
	deps.Stdout, deps.Stderr = os.Stderr, os.Stderr
	if err := deps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "deps:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "raind-itest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testEnv = env{repo: repo, cache: cache, dir: dir, socket: filepath.Join(dir, "containerd.sock")}
	ctrd := exec.Command(filepath.Join(repo, "hack", "containerd.sh"), "start")
	ctrd.Env = append(os.Environ(), "RAIND_CACHE="+cache, "RAIND_CTRD_DIR="+dir)
	ctrd.Stderr = os.Stderr
	if out, err := ctrd.Output(); err != nil || strings.TrimSpace(string(out)) != testEnv.socket {
		fmt.Fprintf(os.Stderr, "start containerd: %v (%q)\n", err, out)
		cleanup(testEnv)
		return 1
	}
	code := m.Run()
	if code != 0 {
		if b, err := os.ReadFile(filepath.Join(dir, "containerd.log")); err == nil {
			lines := strings.Split(string(b), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			fmt.Fprintf(os.Stderr, "--- containerd log (tail) ---\n%s\n", strings.Join(lines, "\n"))
		}
	}
	cleanup(testEnv)
	return code
}

// cleanup stops our containerd by its pid and removes its directory once
// nothing is mounted under it any more.
func cleanup(e env) {
	stop := exec.Command(filepath.Join(e.repo, "hack", "containerd.sh"), "stop")
	stop.Env = append(os.Environ(), "RAIND_CTRD_DIR="+e.dir)
	stop.Stdout, stop.Stderr = os.Stderr, os.Stderr
	_ = stop.Run()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile("/proc/self/mountinfo")
		if !strings.Contains(string(b), e.dir) {
			break
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && strings.HasPrefix(f[4], e.dir) {
				_ = exec.Command("umount", "-l", f[4]).Run()
			}
		}
	}
	_ = os.RemoveAll(e.dir)
	// The per-container cgroups are removed by the shim; the namespace's
	// parent, like runc's, is left for the next container, and goes here.
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + testNamespace)
	for _, d := range dirs {
		_ = os.Remove(d)
	}
}
