package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// nerdctlNamespace keeps nerdctl's containers, images and volumes apart
// from the tests that use ctr and the Go client.
const nerdctlNamespace = "raind-nerdctl"

// nerdctlRuntime is the runtime the nerdctl tests ask for. RAIND_NERDCTL_RUNTIME
// overrides it (io.containerd.runc.v2, say) to check the tests themselves
// against the runc shim.
func nerdctlRuntime() string {
	if r := os.Getenv("RAIND_NERDCTL_RUNTIME"); r != "" {
		return r
	}
	return runtimeName
}

// nerdctlSetup is done once per test binary: nerdctl's config file and the
// busybox image in nerdctl's namespace.
type nerdctlSetup struct {
	once sync.Once
	toml string
	err  error
}

// nerdctlState is the one nerdctl set-up of this test binary; like testEnv
// it is written once and then only read.
var nerdctlState nerdctlSetup

func (e env) nerdctl() string { return filepath.Join(e.cache, "bin", "nerdctl") }

// setupNerdctl writes a nerdctl.toml that points nerdctl at the private
// containerd, with its data root, CNI configuration and hosts under the
// test directory, and loads the busybox image.
func setupNerdctl(t *testing.T) {
	t.Helper()
	nerdctlState.once.Do(func() {
		// nerdctl's default network is a bridge named nerdctl0.
		if err := testEnv.claimLink("nerdctl0"); err != nil {
			nerdctlState.err = err
			return
		}
		dir := filepath.Join(testEnv.dir, "nerdctl")
		for _, d := range []string{"data", "cni/net.d", "hosts"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				nerdctlState.err = err
				return
			}
		}
		toml := filepath.Join(dir, "nerdctl.toml")
		cfg := fmt.Sprintf(`address = %q
namespace = %q
data_root = %q
cni_path = %q
cni_netconfpath = %q
hosts_dir = [%q]
cgroup_manager = "cgroupfs"
snapshotter = "overlayfs"
`, testEnv.socket, nerdctlNamespace, filepath.Join(dir, "data"), filepath.Join(testEnv.cache, "cni", "bin"),
			filepath.Join(dir, "cni", "net.d"), filepath.Join(dir, "hosts"))
		if err := os.WriteFile(toml, []byte(cfg), 0o644); err != nil {
			nerdctlState.err = err
			return
		}
		nerdctlState.toml = toml
		out, err := nerdctlCmd("load", "-i", testEnv.imageTar()).CombinedOutput()
		if err != nil {
			nerdctlState.err = fmt.Errorf("nerdctl load: %v: %s", err, out)
		}
	})
	if nerdctlState.err != nil {
		t.Fatal(nerdctlState.err)
	}
}

func nerdctlCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(testEnv.nerdctl(), args...)
	cmd.Env = append(withoutEnv(os.Environ(), "PATH"), "NERDCTL_TOML="+nerdctlState.toml,
		"PATH="+filepath.Join(testEnv.repo, "bin")+":"+filepath.Join(testEnv.cache, "bin")+":"+os.Getenv("PATH"))
	return cmd
}

// nerdctl runs nerdctl and returns its stdout, stderr and exit code. One
// still running after timeout is killed with SIGKILL.
func nerdctl(t *testing.T, timeout time.Duration, args ...string) (string, string, int) {
	t.Helper()
	cmd := nerdctlCmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nerdctl: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		t.Fatalf("nerdctl %v timed out after %s; stderr %q", args, timeout, errb.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("nerdctl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// mustNerdctl runs nerdctl and fails the test unless it exits 0.
func mustNerdctl(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := nerdctl(t, 2*time.Minute, args...)
	if code != 0 {
		t.Fatalf("nerdctl %v: exit %d\nstdout %q\nstderr %q", args, code, out, errOut)
	}
	return out
}

// nerdctlRun is `nerdctl run --rm --runtime <raind> [opts] busybox args…`,
// which must succeed; it returns stdout.
func nerdctlRun(t *testing.T, opts []string, args ...string) string {
	t.Helper()
	full := append([]string{"run", "--rm", "--runtime", nerdctlRuntime()}, opts...)
	full = append(full, imageRef)
	return mustNerdctl(t, append(full, args...)...)
}

// nerdctlDetached starts a named detached container and removes it when the
// test ends.
func nerdctlDetached(t *testing.T, name string, opts []string, args ...string) {
	t.Helper()
	full := append([]string{"run", "-d", "--name", name, "--runtime", nerdctlRuntime()}, opts...)
	full = append(full, imageRef)
	mustNerdctl(t, append(full, args...)...)
	t.Cleanup(func() { _, _, _ = nerdctl(t, 2*time.Minute, "rm", "-f", name) })
}

// Debian's busybox wget crashes with -T: the tests bound it with timeout.

// sleeper is a container command that exits at once on SIGTERM.
var sleeper = []string{"sh", "-c", "trap 'exit 0' TERM; echo started; while :; do sleep 1; done"}

func TestNerdctlRunRm(t *testing.T) {
	setupNerdctl(t)
	if out := nerdctlRun(t, nil, "echo", "hello from nerdctl"); out != "hello from nerdctl\n" {
		t.Fatalf("stdout %q", out)
	}
	// nerdctl's defaults: a seccomp filter, no no_new_privs, the default
	// capability set, a network namespace on the default bridge.
	status := nerdctlRun(t, nil, "cat", "/proc/self/status")
	if !strings.Contains(status, "Seccomp:\t2") {
		t.Errorf("no seccomp filter by default:\n%s", status)
	}
	if _, _, code := nerdctl(t, time.Minute, "run", "--rm", "--runtime", nerdctlRuntime(), imageRef, "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exit code %d, want 7", code)
	}
}

// TestNerdctlInteractive runs `nerdctl run -it` on a pty, as a person would.
func TestNerdctlInteractive(t *testing.T) {
	setupNerdctl(t)
	cmd := nerdctlCmd("run", "--rm", "-it", "--runtime", nerdctlRuntime(), imageRef, "sh")
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&out, f)
		close(copied)
	}()
	time.Sleep(2 * time.Second)
	if _, err := f.WriteString("echo answer=$((6*7)); tty; exit 3\r"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("nerdctl run -it did not end; output %q", out.String())
	}
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	text := strings.ReplaceAll(out.String(), "\r", "")
	if !strings.Contains(text, "answer=42\n") || !strings.Contains(text, "/dev/pts/0\n") {
		t.Errorf("output %q", text)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("exit %v, want 3", err)
	}
}

func TestNerdctlDetachedLifecycle(t *testing.T) {
	setupNerdctl(t)
	name := newID("nd")
	nerdctlDetached(t, name, nil, sleeper...)
	waitWithin(t, 30*time.Second, "the container's output in nerdctl logs", func() bool {
		out, _, _ := nerdctl(t, time.Minute, "logs", name)
		return strings.Contains(out, "started")
	})
	if out := mustNerdctl(t, "exec", name, "echo", "exec works"); out != "exec works\n" {
		t.Fatalf("exec stdout %q", out)
	}
	// nerdctl's exec exits 1 and names the process's code.
	_, errOut, code := nerdctl(t, time.Minute, "exec", name, "sh", "-c", "exit 5")
	if code == 0 || !strings.Contains(errOut, "exec failed with exit code 5") {
		t.Errorf("exec of exit 5: code %d, stderr %q", code, errOut)
	}
	mustNerdctl(t, "stop", name)
	if out := mustNerdctl(t, "inspect", "--format", "{{.State.Status}}", name); strings.TrimSpace(out) != "exited" {
		t.Errorf("after stop: %q", out)
	}
	mustNerdctl(t, "start", name)
	if out := mustNerdctl(t, "exec", name, "echo", "again"); out != "again\n" {
		t.Fatalf("exec after start %q", out)
	}
	mustNerdctl(t, "restart", name)
	if out := mustNerdctl(t, "inspect", "--format", "{{.State.Status}}", name); strings.TrimSpace(out) != "running" {
		t.Errorf("after restart: %q", out)
	}
	mustNerdctl(t, "rm", "-f", name)
	if _, _, code := nerdctl(t, time.Minute, "inspect", name); code == 0 {
		t.Errorf("container still there after rm -f")
	}
}

// TestNerdctlBridgeNetwork: on nerdctl's default bridge a container
// reaches a server on the host's side of the bridge, and -p publishes a
// busybox httpd to the host's loopback.
func TestNerdctlBridgeNetwork(t *testing.T) {
	setupNerdctl(t)
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "from the host\n") })}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	port := l.Addr().(*net.TCPAddr).Port
	// The gateway of the container's default route is the host's address
	// on nerdctl's bridge.
	script := fmt.Sprintf(`gw=$(ip route | awk '/^default/ {print $3}'); timeout 10 wget -q -O- http://$gw:%d/`, port)
	if out := nerdctlRun(t, nil, "sh", "-c", script); out != "from the host\n" {
		t.Fatalf("container to host: %q", out)
	}

	hostPort := freePort(t)
	name := newID("web")
	nerdctlDetached(t, name, []string{"-p", fmt.Sprintf("127.0.0.1:%d:80", hostPort)},
		"sh", "-c", "mkdir /www && echo served by raind > /www/index.html && exec httpd -f -p 80 -h /www")
	var body string
	waitWithin(t, 30*time.Second, "answer from the published port", func() bool {
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", hostPort))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	if body != "served by raind\n" {
		t.Fatalf("published port answered %q", body)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestNerdctlNetworkModes(t *testing.T) {
	setupNerdctl(t)
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if out := nerdctlRun(t, []string{"--net", "host"}, "readlink", "/proc/self/ns/net"); strings.TrimSpace(out) != host {
		t.Errorf("--net host: namespace %q, host's %q", out, host)
	}
	if out := nerdctlRun(t, []string{"--net", "none"}, "ls", "/sys/class/net"); strings.Fields(out)[0] != "lo" || len(strings.Fields(out)) != 1 {
		t.Errorf("--net none: interfaces %q", out)
	}
}

// procStatusField returns a field of a /proc/<pid>/status text.
func procStatusField(t *testing.T, status, field string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + field + `:\s*(\S+)`).FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("no %s in %q", field, status)
	}
	return m[1]
}

func TestNerdctlSecurityOptions(t *testing.T) {
	setupNerdctl(t)
	if out := nerdctlRun(t, []string{"--read-only"}, "sh", "-c", "touch /x 2>/dev/null && echo rw || echo ro"); out != "ro\n" {
		t.Errorf("--read-only: %q", out)
	}
	if out := nerdctlRun(t, []string{"--user", "1000:1000"}, "id"); !strings.HasPrefix(out, "uid=1000(app) gid=1000(app)") {
		t.Errorf("--user: %q", out)
	}
	st := nerdctlRun(t, []string{"--cap-drop", "ALL", "--cap-add", "NET_RAW"}, "cat", "/proc/self/status")
	if got := procStatusField(t, st, "CapEff"); got != "0000000000002000" {
		t.Errorf("--cap-drop ALL --cap-add NET_RAW: CapEff %s", got)
	}
	st = nerdctlRun(t, []string{"--security-opt", "seccomp=unconfined"}, "cat", "/proc/self/status")
	if got := procStatusField(t, st, "Seccomp"); got != "0" {
		t.Errorf("seccomp=unconfined: Seccomp %s", got)
	}
	st = nerdctlRun(t, []string{"--security-opt", "no-new-privileges"}, "cat", "/proc/self/status")
	if got := procStatusField(t, st, "NoNewPrivs"); got != "1" {
		t.Errorf("no-new-privileges: NoNewPrivs %s", got)
	}
	st = nerdctlRun(t, nil, "cat", "/proc/self/status")
	if got := procStatusField(t, st, "NoNewPrivs"); got != "0" {
		t.Errorf("default NoNewPrivs %s", got)
	}
	st = nerdctlRun(t, []string{"--privileged"}, "sh", "-c", "cat /proc/self/status; ls /dev")
	if got := procStatusField(t, st, "Seccomp"); got != "0" {
		t.Errorf("--privileged: Seccomp %s", got)
	}
	if got := procStatusField(t, st, "CapEff"); !strings.HasPrefix(got, "000001ff") && !strings.HasPrefix(got, "000000ff") {
		t.Errorf("--privileged: CapEff %s", got)
	}
	if !strings.Contains(st, "loop0") && !strings.Contains(st, "mem") {
		t.Errorf("--privileged: host devices missing from /dev: %q", st)
	}
}

// TestNerdctlResources checks the limits where they bind: in the
// container's cgroup.
func TestNerdctlResources(t *testing.T) {
	setupNerdctl(t)
	out := nerdctlRun(t, []string{"--memory", "64m", "--cpus", "0.5", "--pids-limit", "50"}, "sh", "-c",
		`for f in memory/memory.limit_in_bytes cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us pids/pids.max; do
			if [ -e /sys/fs/cgroup/$f ]; then cat /sys/fs/cgroup/$f; else echo none; fi
		done
		cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max 2>/dev/null || true`)
	f := strings.Fields(out)
	switch {
	case len(f) >= 4 && f[0] != "none":
		if f[0] != "67108864" || f[1] != strconv.Itoa(50000) || f[2] != "100000" || f[3] != "50" {
			t.Errorf("cgroup v1 limits %q", out)
		}
	default:
		if !strings.Contains(out, "67108864") || !strings.Contains(out, "50000 100000") {
			t.Errorf("cgroup v2 limits %q", out)
		}
	}
}

func TestNerdctlVolumesTmpfsSysctlUlimit(t *testing.T) {
	setupNerdctl(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "in"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := nerdctlRun(t, []string{"-v", host + ":/data"}, "sh", "-c", "cat /data/in; echo from container > /data/out")
	if out != "from host\n" {
		t.Errorf("bind volume read %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(host, "out")); err != nil || string(b) != "from container\n" {
		t.Errorf("bind volume write: %q %v", b, err)
	}
	vol := newID("vol")
	mustNerdctl(t, "volume", "create", vol)
	defer nerdctl(t, time.Minute, "volume", "rm", "-f", vol)
	nerdctlRun(t, []string{"-v", vol + ":/v"}, "sh", "-c", "echo kept > /v/f")
	if out := nerdctlRun(t, []string{"-v", vol + ":/v"}, "cat", "/v/f"); out != "kept\n" {
		t.Errorf("named volume: %q", out)
	}
	if out := nerdctlRun(t, []string{"--tmpfs", "/scratch"}, "sh", "-c", "grep ' /scratch ' /proc/mounts | cut -d' ' -f3"); out != "tmpfs\n" {
		t.Errorf("--tmpfs: %q", out)
	}
	if out := nerdctlRun(t, []string{"--sysctl", "net.ipv4.ip_forward=1"}, "cat", "/proc/sys/net/ipv4/ip_forward"); out != "1\n" {
		t.Errorf("--sysctl: %q", out)
	}
	if out := nerdctlRun(t, []string{"--ulimit", "nofile=1024:2048"}, "sh", "-c", "ulimit -n; ulimit -Hn"); out != "1024\n2048\n" {
		t.Errorf("--ulimit: %q", out)
	}
}

func TestNerdctlInit(t *testing.T) {
	setupNerdctl(t)
	out := nerdctlRun(t, []string{"--init", "--init-binary", "/usr/bin/tini-static"}, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
	if !strings.Contains(out, "docker-init") && !strings.Contains(out, "tini") {
		t.Errorf("pid 1 is %q, not the init", out)
	}
}

// TestNerdctlRestartAlways kills a --restart=always container's process
// from the host and waits for containerd's restart monitor to start it
// again through raind. The monitor looks every 10 s (its default: a
// shorter interval races nerdctl's own first start of the task, whose
// bundle the monitor then creates first).
func TestNerdctlRestartAlways(t *testing.T) {
	setupNerdctl(t)
	host := t.TempDir()
	name := newID("always")
	nerdctlDetached(t, name, []string{"--restart=always", "-v", host + ":/data"}, "sh", "-c", "echo run >> /data/runs; exec sleep 1000")
	runs := func() int {
		b, _ := os.ReadFile(filepath.Join(host, "runs"))
		return strings.Count(string(b), "run")
	}
	waitWithin(t, 30*time.Second, "first run", func() bool { return runs() == 1 })
	pid, err := strconv.Atoi(strings.TrimSpace(mustNerdctl(t, "inspect", "--format", "{{.State.Pid}}", name)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid %d: %v", pid, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitWithin(t, 60*time.Second, "restart by the restart monitor", func() bool { return runs() >= 2 })
}

func TestNerdctlCompose(t *testing.T) {
	setupNerdctl(t)
	dir := t.TempDir()
	project := strings.ReplaceAll(newID("proj"), "-", "")
	compose := fmt.Sprintf(`services:
  web:
    image: %s
    runtime: %s
    command: ["sh", "-c", "mkdir /www && echo composed > /www/index.html && exec httpd -f -p 80 -h /www"]
  client:
    image: %s
    runtime: %s
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
`, imageRef, nerdctlRuntime(), imageRef, nerdctlRuntime())
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	mustNerdctl(t, "compose", "-p", project, "-f", file, "up", "-d")
	downed := false
	defer func() {
		if !downed {
			_, _, _ = nerdctl(t, 2*time.Minute, "compose", "-p", project, "-f", file, "down")
		}
	}()
	// The services reach each other by name on the project's network.
	var out string
	waitWithin(t, 30*time.Second, "web served to client by name", func() bool {
		out, _, _ = nerdctl(t, time.Minute, "compose", "-p", project, "-f", file, "exec", "-T", "client", "timeout", "5", "wget", "-q", "-O-", "http://web/")
		return out == "composed\n"
	})
	mustNerdctl(t, "compose", "-p", project, "-f", file, "down")
	downed = true
	if out := mustNerdctl(t, "ps", "-a", "--format", "{{.Names}}"); strings.Contains(out, project) {
		t.Errorf("containers left after compose down: %q", out)
	}
}
