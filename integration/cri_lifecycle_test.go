package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The CRI container lifecycle through crictl, on the handler under test
// (raind, or runc with RAIND_CRI_HANDLER=runc to check the tests).

// crictlCmd is crictl against the private containerd, not started.
func crictlCmd(args ...string) *exec.Cmd {
	ep := "unix://" + testEnv.socket
	full := append([]string{"--runtime-endpoint", ep, "--image-endpoint", ep, "--timeout", "60s"}, args...)
	return exec.Command(filepath.Join(testEnv.cache, "bin", "crictl"), full...)
}

// crictlIn runs crictl with stdin and returns stdout, stderr and its exit
// code, killing it after timeout.
func crictlIn(t *testing.T, timeout time.Duration, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	cmd := crictlCmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start crictl: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		t.Fatalf("crictl %v did not end in %s; stdout %q stderr %q", args, timeout, out.String(), errb.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("crictl %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// crictlLog matches crictl's own log lines (logrus) on stderr.
var crictlLog = regexp.MustCompile(`(?m)^time="[^"]*" level=\w+ msg=.*\n?`)

// withoutCrictlLog is stderr without crictl's own log lines: what the
// container wrote.
func withoutCrictlLog(s string) string { return crictlLog.ReplaceAllString(s, "") }

// retypeUntil types line into the terminal until want shows in what it
// printed since the last expect (a shell may not be reading yet), then
// moves past it.
func retypeUntil(t *testing.T, tm *term, line, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tm.send(line)
		time.Sleep(300 * time.Millisecond)
		tm.mu.Lock()
		s := clean(tm.out.String()[tm.mark:])
		found := strings.Contains(s, want)
		if found {
			tm.mark += rawIndexAfter(tm.out.String()[tm.mark:], want)
		}
		tm.mu.Unlock()
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("typed %q for 20s, never saw %q; output:\n%q", line, want, s)
		}
	}
}

// criContainer is what `crictl inspect -o json` and `crictl inspectp -o
// json` say, as far as the tests look.
type criContainer struct {
	Status struct {
		State    string `json:"state"`
		ExitCode int    `json:"exitCode"`
		Reason   string `json:"reason"`
		LogPath  string `json:"logPath"`
	} `json:"status"`
	Info struct {
		Pid         int `json:"pid"`
		RuntimeSpec struct {
			Linux struct {
				CgroupsPath string `json:"cgroupsPath"`
				Resources   struct {
					Memory struct {
						Limit *int64 `json:"limit"`
						Swap  *int64 `json:"swap"`
					} `json:"memory"`
				} `json:"resources"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	} `json:"info"`
}

func criInspect(t *testing.T, verb, id string) criContainer {
	t.Helper()
	var c criContainer
	out := crictl(t, verb, "-o", "json", id)
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("crictl %s %s: %v\n%s", verb, id, err, out)
	}
	return c
}

// criSandbox starts a pod with a cgroup parent of the tests' own and
// returns it with its config.
func criSandbox(t *testing.T) (string, string) {
	t.Helper()
	setupCRI(t)
	return runPod(t, newID("pod"), obj{})
}

// criContainerCgroups lists the container's cgroup directories, one per
// v1 hierarchy that has it.
func criContainerCgroups(t *testing.T, c criContainer) []string {
	t.Helper()
	p := c.Info.RuntimeSpec.Linux.CgroupsPath
	if p == "" || strings.Contains(p, ":") {
		t.Fatalf("cgroupsPath %q: want a cgroupfs path", p)
	}
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", p))
	return dirs
}

func readCgroupFile(t *testing.T, c criContainer, controller, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, c.Info.RuntimeSpec.Linux.CgroupsPath, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func waitState(t *testing.T, id, want string) criContainer {
	t.Helper()
	var c criContainer
	waitWithin(t, 30*time.Second, id+" in state "+want, func() bool {
		c = criInspect(t, "inspect", id)
		return c.Status.State == want
	})
	return c
}

// TestCRIExecSync: crictl exec -s runs the command in the container (its
// pid namespace, its environment) and hands back stdout, stderr and the
// exit code apart.
func TestCRIExecSync(t *testing.T) {
	pod, podCfg := criSandbox(t)
	// A pid namespace of its own (NamespaceMode CONTAINER), so that pid 1
	// tells whose namespace an exec joined.
	id := startContainer(t, pod, podCfg, "execsync", obj{
		"envs":  []obj{{"key": "RAIND_E", "value": "from-spec"}},
		"linux": obj{"security_context": obj{"namespace_options": obj{"pid": 1}}},
	})
	if c := criInspect(t, "inspect", id); c.Status.State != "CONTAINER_RUNNING" || c.Info.Pid <= 0 {
		t.Fatalf("after start: %+v", c.Status)
	}
	// crictl 1.37 prints the exec's stdout, a newline, its stderr and a
	// newline: the two streams stay apart.
	out, errOut, code := crictlCode(t, "exec", "-s", id, "sh", "-c", "echo out; echo err >&2")
	if code != 0 || out != "out\n\nerr\n\n" {
		t.Errorf("exec -s: exit %d stdout %q stderr %q; want stdout \"out\\n\" and stderr \"err\\n\" apart", code, out, errOut)
	}
	// A non-zero exit code: crictl 1.37 exits 1 whatever the code, and
	// names it, with the exec's stderr, in its error.
	_, errOut, code = crictlCode(t, "exec", "-s", id, "sh", "-c", "echo out; echo err >&2; exit 3")
	if code == 0 || !strings.Contains(errOut, "exited with 3: err") {
		t.Errorf("exec -s exit 3: crictl exit %d stderr %q", code, errOut)
	}
	// Pid 1 of the exec's pid namespace is the container's command: the
	// exec joined the container, not the sandbox or the host; it has the
	// container's environment and working directory.
	out = crictl(t, "exec", "-s", id, "sh", "-c", "tr '\\0' ' ' </proc/1/cmdline; echo; echo $RAIND_E; pwd")
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || !strings.Contains(lines[0], "while :; do sleep 1") || lines[1] != "from-spec" || lines[2] != "/" {
		t.Errorf("exec's view: %q", out)
	}
	// CRI's default for a container is the pod's pid namespace: pid 1 is
	// the sandbox's pause.
	shared := startContainer(t, pod, podCfg, "shared", nil)
	if out := crictl(t, "exec", "-s", shared, "sh", "-c", "tr '\\0' ' ' </proc/1/cmdline"); !strings.HasPrefix(out, "/pause") {
		t.Errorf("pid 1 in a container sharing the pod's pid namespace: %q", out)
	}
	// A command that is not there fails to start; crictl reports it.
	if _, errOut, code := crictlCode(t, "exec", "-s", id, "/no/such/binary"); code == 0 {
		t.Errorf("exec of a missing binary: exit 0, stderr %q", errOut)
	}
	// An exec past its timeout is killed: CRI gives up on it, and the
	// shim must end it.
	start := time.Now()
	_, errOut, code = crictlCode(t, "exec", "-s", "--timeout", "2", id, "sleep", "37")
	if code == 0 || !strings.Contains(errOut, "timeout 2s exceeded") || time.Since(start) > 20*time.Second {
		t.Errorf("exec past its timeout: exit %d after %s, stderr %q", code, time.Since(start), errOut)
	}
	waitWithin(t, 10*time.Second, "the timed-out exec to be gone", func() bool {
		return !strings.Contains(crictl(t, "exec", "-s", id, "ps", "-o", "args"), "sleep 37")
	})
	// The container is not harmed by its execs.
	if c := criInspect(t, "inspect", id); c.Status.State != "CONTAINER_RUNNING" {
		t.Errorf("after the execs: %+v", c.Status)
	}
}

// TestCRIExecStream: crictl exec without -s goes through CRI's streaming
// server: stdout, stderr, stdin with its end, and the exit code.
func TestCRIExecStream(t *testing.T) {
	pod, podCfg := criSandbox(t)
	id := startContainer(t, pod, podCfg, "exec", nil)
	out, errOut, code := crictlIn(t, time.Minute, nil, "exec", id, "sh", "-c", "echo streamed; echo e2 >&2")
	if code != 0 || out != "streamed\n" || withoutCrictlLog(errOut) != "e2\n" {
		t.Errorf("exec: exit %d stdout %q stderr %q; want \"streamed\\n\", \"e2\\n\"", code, out, errOut)
	}
	// crictl 1.37 exits 1 on any non-zero code, and names the code.
	_, errOut, code = crictlIn(t, time.Minute, nil, "exec", id, "sh", "-c", "exit 4")
	if code == 0 || !strings.Contains(errOut, "command terminated with exit code 4") {
		t.Errorf("exec exit 4: crictl exit %d stderr %q", code, errOut)
	}
	// A MiB through stdin, then its end: wc sees all of it and ends.
	in := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	out, errOut, code = crictlIn(t, time.Minute, in, "exec", "-i", id, "wc", "-c")
	if code != 0 || strings.TrimSpace(out) != strconv.Itoa(len(in)) {
		t.Errorf("exec -i wc -c: exit %d stdout %q stderr %q; want %d", code, out, errOut, len(in))
	}
	out, errOut, code = crictlIn(t, time.Minute, []byte("one\ntwo\n"), "exec", "-i", id, "sh", "-c", "while read l; do echo got:$l; done; exit 9")
	if out != "got:one\ngot:two\n" || !strings.Contains(errOut, "exit code 9") {
		t.Errorf("exec -i read loop: exit %d stdout %q stderr %q", code, out, errOut)
	}
}

// TestCRIExecTTY: crictl exec -it on a terminal: a shell on a pty in the
// container that takes the terminal's input and size, and whose exit code
// crictl returns.
func TestCRIExecTTY(t *testing.T) {
	pod, podCfg := criSandbox(t)
	id := startContainer(t, pod, podCfg, "exectty", nil)
	tm := startTermCmd(t, crictlCmd("exec", "-it", id, "sh"))
	tm.send("echo $((6*7))x; tty; stty size\n")
	tm.expect("42x")
	tm.expect("/dev/pts/")
	tm.expect("24 80")
	// A resize of the terminal reaches the exec's pty.
	if err := setSize(tm, 40, 132); err != nil {
		t.Fatal(err)
	}
	retypeUntil(t, tm, "stty size\n", "40 132")
	tm.send("exit 5\n")
	// crictl 1.37 exits 1 on any non-zero code, and names the code.
	tm.expect("command terminated with exit code 5")
	if code := tm.wait(); code == 0 {
		t.Errorf("crictl exec -it exit 0 after exit 5")
	}
}

// TestCRIAttach: crictl attach to a container created with stdin and a
// tty: input reaches its shell, output comes back, a second attach finds
// the same shell, and the shell's exit ends the container with its code.
func TestCRIAttach(t *testing.T) {
	pod, podCfg := criSandbox(t)
	id := startContainer(t, pod, podCfg, "attach", obj{"command": []string{"sh"}, "stdin": true, "tty": true})
	tm := startTermCmd(t, crictlCmd("attach", "-it", id))
	retypeUntil(t, tm, "echo at$((1+2))\n", "at3")
	tm.send("v=kept; echo set-$v\n")
	tm.expect("set-kept")
	// Leave (kill the client): the container stays as it was.
	_ = tm.cmd.Process.Signal(syscall.SIGKILL)
	_ = tm.cmd.Wait()
	if c := criInspect(t, "inspect", id); c.Status.State != "CONTAINER_RUNNING" {
		t.Fatalf("after the client left: %+v", c.Status)
	}
	tm2 := startTermCmd(t, crictlCmd("attach", "-it", id))
	retypeUntil(t, tm2, "echo v=$v\n", "v=kept")
	tm2.send("exit 6\n")
	c := waitState(t, id, "CONTAINER_EXITED")
	if c.Status.ExitCode != 6 {
		t.Errorf("container exit code %d, want 6", c.Status.ExitCode)
	}
	tm2.wait()
}

// TestCRIAttachStdinOnce: a container with stdin and stdin_once, no tty:
// crictl attach -i feeds its stdin, gets its stdout and stderr apart, and
// the end of that stdin closes the container's, so it ends.
func TestCRIAttachStdinOnce(t *testing.T) {
	pod, podCfg := criSandbox(t)
	id := startContainer(t, pod, podCfg, "once", obj{
		"command":    []string{"sh", "-c", "while read l; do echo got:$l; echo err:$l >&2; done; exit 8"},
		"stdin":      true,
		"stdin_once": true,
	})
	out, errOut, code := crictlIn(t, time.Minute, []byte("a\nb\n"), "attach", "-i", id)
	if code != 0 || out != "got:a\ngot:b\n" || withoutCrictlLog(errOut) != "err:a\nerr:b\n" {
		t.Errorf("attach -i: exit %d stdout %q stderr %q", code, out, errOut)
	}
	c := waitState(t, id, "CONTAINER_EXITED")
	if c.Status.ExitCode != 8 {
		t.Errorf("container exit code %d, want 8", c.Status.ExitCode)
	}
}

// criLogLine is one line of the CRI log format: time, stream, tag, text.
var criLogLine = regexp.MustCompile(`^(\S+) (stdout|stderr) ([PF]) (.*)$`)

// TestCRILogs: what a container writes to stdout and stderr lands in its
// CRI log file line by line with the right stream, and crictl logs gives
// each stream back on its own.
func TestCRILogs(t *testing.T) {
	pod, podCfg := criSandbox(t)
	id := startContainer(t, pod, podCfg, "logs", obj{"command": []string{"sh", "-c",
		"echo out1; echo err1 >&2; echo out2; printf 'no newline'; sleep 0.5; echo ' yet'; echo done >&2; sleep 0.5; echo end; exec sleep 1000"}})
	waitWithin(t, 30*time.Second, "the last line in crictl logs", func() bool {
		out, _, _ := crictlCode(t, "logs", id)
		return strings.Contains(out, "end")
	})
	out, errOut, code := crictlCode(t, "logs", id)
	errOut = withoutCrictlLog(errOut)
	if code != 0 || out != "out1\nout2\nno newline yet\nend\n" || errOut != "err1\ndone\n" {
		t.Errorf("crictl logs: exit %d stdout %q stderr %q", code, out, errOut)
	}
	// The streams are relayed apart, so the file orders lines of
	// different streams only as they arrived: the sleep makes "end" the
	// last line.
	if out, errOut, _ := crictlCode(t, "logs", "--tail", "1", id); out != "end\n" || withoutCrictlLog(errOut) != "" {
		t.Errorf("crictl logs --tail 1: stdout %q stderr %q", out, errOut)
	}

	c := criInspect(t, "inspect", id)
	f, err := os.Open(c.Status.LogPath)
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	defer f.Close()
	var got []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		m := criLogLine.FindStringSubmatch(s.Text())
		if m == nil {
			t.Errorf("not a CRI log line: %q", s.Text())
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			t.Errorf("log line time %q: %v", m[1], err)
		}
		got = append(got, m[2]+" "+m[3]+" "+m[4])
	}
	// Each stream keeps its order; the two interleave as written, but
	// only within a stream is the order certain.
	var stdout, stderr []string
	for _, l := range got {
		if strings.HasPrefix(l, "stdout ") {
			stdout = append(stdout, l)
		} else {
			stderr = append(stderr, l)
		}
	}
	wantOut := []string{"stdout F out1", "stdout F out2", "stdout F no newline yet", "stdout F end"}
	wantErr := []string{"stderr F err1", "stderr F done"}
	if fmt.Sprint(stdout) != fmt.Sprint(wantOut) || fmt.Sprint(stderr) != fmt.Sprint(wantErr) {
		t.Errorf("log file lines %q, want %q and %q", got, wantOut, wantErr)
	}
}

// criStat is one container of `crictl stats -o json`; protobuf's JSON
// writes uint64 as strings.
type criStat struct {
	Attributes struct {
		ID string `json:"id"`
	} `json:"attributes"`
	CPU struct {
		UsageCoreNanoSeconds struct {
			Value json.Number `json:"value"`
		} `json:"usageCoreNanoSeconds"`
	} `json:"cpu"`
	Memory struct {
		WorkingSetBytes struct {
			Value json.Number `json:"value"`
		} `json:"workingSetBytes"`
	} `json:"memory"`
}

// TestCRIStats: crictl stats reports the container's own CPU time and
// memory, read from its cgroup.
func TestCRIStats(t *testing.T) {
	pod, podCfg := criSandbox(t)
	// Half a second of CPU or so, then 16 MiB of tmpfs, charged to the
	// container's memory cgroup.
	id := startContainer(t, pod, podCfg, "stats", obj{"command": []string{"sh", "-c",
		"i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; dd if=/dev/zero of=/dev/shm/fill bs=1M count=16 2>/dev/null; touch /tmp/ready; exec sleep 1000"}})
	waitWithin(t, time.Minute, "the container's load", func() bool {
		_, _, code := crictlCode(t, "exec", "-s", id, "test", "-f", "/tmp/ready")
		return code == 0
	})
	out := crictl(t, "stats", "-o", "json", "--id", id)
	var st struct {
		Stats []criStat `json:"stats"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("stats: %v\n%s", err, out)
	}
	if len(st.Stats) != 1 || st.Stats[0].Attributes.ID != id {
		t.Fatalf("stats of %s: %s", id, out)
	}
	cpu, _ := st.Stats[0].CPU.UsageCoreNanoSeconds.Value.Int64()
	mem, _ := st.Stats[0].Memory.WorkingSetBytes.Value.Int64()
	if cpu < 50e6 {
		t.Errorf("cpu usage %d ns, want the loop's (> 50ms): %s", cpu, out)
	}
	if mem < 16<<20 {
		t.Errorf("working set %d, want at least the 16 MiB on tmpfs: %s", mem, out)
	}
	// The pod's stats hold the container's.
	out = crictl(t, "statsp", "-o", "json", "--id", pod)
	var pst struct {
		Stats []struct {
			Linux struct {
				Containers []criStat `json:"containers"`
			} `json:"linux"`
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(out), &pst); err != nil {
		t.Fatalf("statsp: %v\n%s", err, out)
	}
	if len(pst.Stats) != 1 || len(pst.Stats[0].Linux.Containers) != 1 || pst.Stats[0].Linux.Containers[0].Attributes.ID != id {
		t.Errorf("pod stats of %s: want the one container %s: %s", pod, id, out)
	} else if m, _ := pst.Stats[0].Linux.Containers[0].Memory.WorkingSetBytes.Value.Int64(); m < 16<<20 {
		t.Errorf("the container's working set in the pod's stats %d, want at least 16 MiB", m)
	}
	// The same cgroup the host sees.
	c := criInspect(t, "inspect", id)
	usage, _ := strconv.ParseInt(readCgroupFile(t, c, "memory", "memory.usage_in_bytes"), 10, 64)
	if mem > usage+(4<<20) || mem < usage/2 {
		t.Errorf("working set %d, cgroup's usage %d", mem, usage)
	}
}

// TestCRIUpdate: crictl update changes the running container's cgroup;
// a memory limit below what the container uses fails and leaves the old
// limit in place.
func TestCRIUpdate(t *testing.T) {
	pod, podCfg := criSandbox(t)
	id := startContainer(t, pod, podCfg, "update", obj{"linux": obj{"resources": obj{"memory_limit_in_bytes": 128 << 20}}})
	c := criInspect(t, "inspect", id)
	if got := readCgroupFile(t, c, "memory", "memory.limit_in_bytes"); got != strconv.Itoa(128<<20) {
		t.Fatalf("memory limit at create %s, want %d", got, 128<<20)
	}

	crictl(t, "update", "--memory", strconv.Itoa(64<<20), "--cpu-quota", "50000", "--cpu-period", "100000", "--cpu-share", "512", id)
	for _, f := range []struct{ ctl, file, want string }{
		{"memory", "memory.limit_in_bytes", strconv.Itoa(64 << 20)},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.shares", "512"},
	} {
		if got := readCgroupFile(t, c, f.ctl, f.file); got != f.want {
			t.Errorf("after update %s/%s = %s, want %s", f.ctl, f.file, got, f.want)
		}
	}
	// The devices every container has survive the update, which carries
	// CRI's device rules (deny-all first).
	if out := crictl(t, "exec", "-s", id, "sh", "-c", "head -c 3 /dev/zero | wc -c; echo x >/dev/null && echo null-ok"); strings.Fields(out)[0] != "3" || !strings.Contains(out, "null-ok") {
		t.Errorf("/dev/zero and /dev/null after the update: %q", out)
	}
	// The container sees its own limit.
	if out := crictl(t, "exec", "-s", id, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"); strings.TrimSpace(out) != strconv.Itoa(64<<20) {
		t.Errorf("limit seen in the container %q", out)
	}
	checkMemsw(t, id)
	// Up again, past the old limit (and memory+swap's, which must go
	// first).
	crictl(t, "update", "--memory", strconv.Itoa(256<<20), id)
	if got := readCgroupFile(t, c, "memory", "memory.limit_in_bytes"); got != strconv.Itoa(256<<20) {
		t.Errorf("after raising: memory limit %s, want %d", got, 256<<20)
	}
	checkMemsw(t, id)

	// 24 MiB on tmpfs, which without swap cannot be reclaimed.
	crictl(t, "exec", "-s", id, "dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=24")
	_, errOut, code := crictlCode(t, "update", "--memory", strconv.Itoa(8<<20), id)
	if code == 0 {
		t.Errorf("a memory limit below usage was accepted")
	}
	t.Logf("update below usage: %s", strings.TrimSpace(withoutCrictlLog(errOut)))
	// raind names the kind (the cgroup's state refuses the value);
	// containerd's runc shim says Unknown.
	if criHandler() == "raind" && !strings.Contains(errOut, "code = FailedPrecondition") {
		t.Errorf("update below usage: want FailedPrecondition: %s", errOut)
	}
	if got := readCgroupFile(t, c, "memory", "memory.limit_in_bytes"); got != strconv.Itoa(256<<20) {
		t.Errorf("after the failed update: memory limit %s, want the old %d (crictl said %q)", got, 256<<20, errOut)
	}
	if c := criInspect(t, "inspect", id); c.Status.State != "CONTAINER_RUNNING" {
		t.Errorf("after the failed update: %+v", c.Status)
	}
}

// checkMemsw checks the container's memory+swap limit against the one in
// its spec, where CRI sets one (v1 with swap accounting: equal to the
// memory limit, so that the container cannot swap).
func checkMemsw(t *testing.T, id string) {
	t.Helper()
	c := criInspect(t, "inspect", id)
	swap := c.Info.RuntimeSpec.Linux.Resources.Memory.Swap
	if swap == nil {
		t.Logf("no memory+swap limit in the spec")
		return
	}
	if got := readCgroupFile(t, c, "memory", "memory.memsw.limit_in_bytes"); got != strconv.FormatInt(*swap, 10) {
		t.Errorf("memory+swap limit %s, the spec's %d", got, *swap)
	}
}

// TestCRIStop: crictl stop sends SIGTERM and waits: a container that
// exits on it reports its own exit code at once; one that ignores it is
// killed after the timeout (137). Either way its processes and its
// cgroup go. A container that ends by itself reports its code too.
func TestCRIStop(t *testing.T) {
	pod, podCfg := criSandbox(t)
	done := startContainer(t, pod, podCfg, "done", obj{"command": []string{"sh", "-c", "sleep 1; exit 3"}})
	if c := waitState(t, done, "CONTAINER_EXITED"); c.Status.ExitCode != 3 || c.Status.Reason != "Error" {
		t.Errorf("a container that exited 3: %+v", c.Status)
	}
	if _, errOut, code := crictlCode(t, "exec", "-s", done, "true"); code == 0 {
		t.Errorf("exec in an exited container: exit 0, stderr %q", errOut)
	}

	polite := startContainer(t, pod, podCfg, "polite", obj{"command": []string{"sh", "-c", "trap 'exit 7' TERM; while :; do sleep 1; done"}})
	stubborn := startContainer(t, pod, podCfg, "stubborn", obj{"command": []string{"sh", "-c", "trap '' TERM; while :; do sleep 1; done"}})

	for _, tc := range []struct {
		id       string
		timeout  int
		code     int
		min, max time.Duration
	}{
		{polite, 30, 7, 0, 10 * time.Second},
		{stubborn, 3, 137, 3 * time.Second, 20 * time.Second},
	} {
		before := criInspect(t, "inspect", tc.id)
		cgroups := criContainerCgroups(t, before)
		if len(cgroups) == 0 {
			t.Fatalf("%s: no cgroup at %s", tc.id, before.Info.RuntimeSpec.Linux.CgroupsPath)
		}
		start := time.Now()
		crictl(t, "stop", "--timeout", strconv.Itoa(tc.timeout), tc.id)
		took := time.Since(start)
		c := criInspect(t, "inspect", tc.id)
		if c.Status.State != "CONTAINER_EXITED" || c.Status.ExitCode != tc.code {
			t.Errorf("%s after stop: %+v, want exited with %d", tc.id, c.Status, tc.code)
		}
		if took < tc.min || took > tc.max {
			t.Errorf("%s: stop took %s, want %s to %s", tc.id, took, tc.min, tc.max)
		}
		waitWithin(t, 10*time.Second, tc.id+"'s init and cgroups to go", func() bool {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", before.Info.Pid)); err == nil {
				return false
			}
			return len(criContainerCgroups(t, before)) == 0
		})
	}
}

// procParent is the parent of a process, from /proc.
func procParent(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("process %d: %v", pid, err)
	}
	// The command may hold spaces and parentheses: fields start after
	// the last ')'.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatalf("stat of %d: %q", pid, b)
	}
	return ppid
}

func procName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return filepath.Base(strings.SplitN(string(b), "\x00", 2)[0])
}

// handlerShim is the shim binary of the handler under test.
func handlerShim() string {
	return "containerd-shim-" + criHandler() + "-v2"
}

// podShim checks that the pod's sandbox and containers are children of one
// shim of the handler under test, and returns its pid.
func podShim(t *testing.T, pod string, ids ...string) int {
	t.Helper()
	sb := criInspect(t, "inspectp", pod)
	shim := procParent(t, sb.Info.Pid)
	if procName(shim) != handlerShim() {
		t.Fatalf("the sandbox's parent %d is %q, want %s", shim, procName(shim), handlerShim())
	}
	children := childrenOf(shim)
	if !containsInt(children, sb.Info.Pid) {
		t.Errorf("sandbox %d not among shim %d's children %v", sb.Info.Pid, shim, children)
	}
	for _, id := range ids {
		c := criInspect(t, "inspect", id)
		if p := procParent(t, c.Info.Pid); p != shim || !containsInt(children, c.Info.Pid) {
			t.Errorf("container %s (pid %d) has parent %d, not the pod's shim %d (children %v)", id, c.Info.Pid, p, shim, children)
		}
	}
	return shim
}

// TestCRIPodOneShim: a pod's sandbox and its containers are served by one
// shim; stopping and removing one container leaves the others running,
// and a container added later joins the same shim.
func TestCRIPodOneShim(t *testing.T) {
	pod, podCfg := criSandbox(t)
	a := startContainer(t, pod, podCfg, "a", nil)
	b := startContainer(t, pod, podCfg, "b", nil)
	shim := podShim(t, pod, a, b)
	bPid := criInspect(t, "inspect", b).Info.Pid

	crictl(t, "stop", "--timeout", "10", a)
	crictl(t, "rm", a)
	if c := criInspect(t, "inspect", b); c.Status.State != "CONTAINER_RUNNING" || c.Info.Pid != bPid {
		t.Errorf("b after a went: %+v pid %d, want running as %d", c.Status, c.Info.Pid, bPid)
	}
	if out := crictl(t, "exec", "-s", b, "echo", "alive"); strings.TrimSpace(out) != "alive" {
		t.Errorf("exec in b after a went: %q", out)
	}
	if sb := criInspect(t, "inspectp", pod); sb.Status.State != "SANDBOX_READY" {
		t.Errorf("sandbox after a went: %+v", sb.Status)
	}
	c := startContainer(t, pod, podCfg, "c", nil)
	if again := podShim(t, pod, b, c); again != shim {
		t.Errorf("shim %d now, was %d", again, shim)
	}
}

// mountsMentioning lists the mount points under dir whose path holds one
// of ids.
func mountsMentioning(dir string, ids ...string) []string {
	var out []string
	for _, m := range mountsUnder(dir) {
		for _, id := range ids {
			if strings.Contains(m, id) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// TestCRIRemovePod: crictl stopp and rmp end the pod's shim and leave no
// cgroup and no mount of the sandbox or its containers behind.
func TestCRIRemovePod(t *testing.T) {
	pod, podCfg := criSandbox(t)
	a := startContainer(t, pod, podCfg, "a", nil)
	b := startContainer(t, pod, podCfg, "b", nil)
	shim := podShim(t, pod, a, b)
	ids := []string{pod, a, b}
	var pids []int
	var cgroups []string
	for _, c := range []criContainer{criInspect(t, "inspectp", pod), criInspect(t, "inspect", a), criInspect(t, "inspect", b)} {
		pids = append(pids, c.Info.Pid)
		cg := criContainerCgroups(t, c)
		if len(cg) == 0 {
			t.Fatalf("no cgroup at %q", c.Info.RuntimeSpec.Linux.CgroupsPath)
		}
		cgroups = append(cgroups, cg...)
	}
	// The containers' rootfs mounts, at least: the check below can see
	// what it looks for.
	if m := mountsMentioning(testEnv.dir, a, b); len(m) < 2 {
		t.Fatalf("mounts of the containers under %s: %v", testEnv.dir, m)
	}

	crictl(t, "stopp", pod)
	crictl(t, "rmp", pod)
	waitWithin(t, 20*time.Second, "the shim to exit", func() bool {
		return procName(shim) != handlerShim()
	})
	for _, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("process %d of the pod still there: %s", pid, procName(pid))
		}
	}
	for _, d := range cgroups {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left", d)
		}
	}
	if m := mountsMentioning(testEnv.dir, ids...); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	if out := crictl(t, "pods", "-q", "--id", pod); strings.TrimSpace(out) != "" {
		t.Errorf("pod still listed: %q", out)
	}
	if out := crictl(t, "ps", "-a", "-q", "--pod", pod); strings.TrimSpace(out) != "" {
		t.Errorf("containers still listed: %q", out)
	}
}
