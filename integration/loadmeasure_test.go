package integration

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostUsage is what the load tests hold flat on the host: everything the
// private containerd and its shims leave behind when a leak happens. The
// counts are of this test run's own objects only (other helpers' daemons
// share the host), except allMounts, which is reported, not checked.
type hostUsage struct {
	shims          int // raind shims serving our containerd
	inits          int // processes still running our bin/raind-init
	containerProcs int // descendants of our shims
	zombies        int // state Z under the test binary, our containerd or our shims
	mounts         int // mount points under the daemon's directory (bundles, rootfs, snapshots)
	allMounts      int // lines of /proc/self/mountinfo: other users' mounts too
	cgroups        int // the load tests' cgroups under <hierarchy>/raind-test, all hierarchies
}

func (h hostUsage) String() string {
	return fmt.Sprintf("shims=%d inits=%d ctrprocs=%d zombies=%d mounts=%d (host %d) cgroups=%d",
		h.shims, h.inits, h.containerProcs, h.zombies, h.mounts, h.allMounts, h.cgroups)
}

// within reports whether h holds nothing more than base: a leak adds.
// Fewer is not ours to fail on (an earlier test's shim finishing its
// cleanup while this one runs); allMounts is left out, as other users of
// the host change it.
func (h hostUsage) within(base hostUsage) bool {
	return h.shims <= base.shims && h.inits <= base.inits && h.containerProcs <= base.containerProcs &&
		h.zombies <= base.zombies && h.mounts <= base.mounts && h.cgroups <= base.cgroups
}

// procPpidState is the part of /proc/<pid>/stat the host snapshot needs.
type procPpidState struct {
	ppid  int
	state byte
}

func readProcStats() map[int]procPpidState {
	entries, _ := os.ReadDir("/proc")
	out := make(map[int]procPpidState, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// comm may hold spaces and parentheses: the fields start after the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		out[pid] = procPpidState{ppid: ppid, state: f[0][0]}
	}
	return out
}

// under reports whether pid descends from one of roots (or is one).
func under(stats map[int]procPpidState, pid int, roots map[int]bool) bool {
	for i := 0; pid > 1 && i < 64; i++ {
		if roots[pid] {
			return true
		}
		pid = stats[pid].ppid
	}
	return false
}

func containerdPid() int {
	b, _ := os.ReadFile(filepath.Join(testEnv.dir, "containerd.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func countLines(p string) int {
	f, err := os.Open(p)
	if err != nil {
		return -1
	}
	defer f.Close()
	n := 0
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		n++
	}
	return n
}

// loadPrefix starts the id of every container the load tests create, so
// that their cgroups can be told from those of other suites on the host:
// every raind test suite puts its containers under the same parent.
const loadPrefix = "load-"

// loadCgroupDirs counts the load tests' container cgroups (and anything
// below them) under the tests' cgroup parent (the namespace's, as
// containerd's default spec puts it), in every hierarchy.
func loadCgroupDirs() int {
	parents, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", testNamespace))
	if p := filepath.Join("/sys/fs/cgroup", testNamespace); isDir(p) {
		parents = append(parents, p)
	}
	n := 0
	for _, p := range parents {
		_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.HasPrefix(strings.TrimPrefix(path, p+"/"), loadPrefix) {
				n++
			}
			return nil
		})
	}
	return n
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func hostSnapshot(t *testing.T) hostUsage {
	t.Helper()
	stats := readProcStats()
	shims := shimPids(t)
	shimSet := map[int]bool{}
	for _, p := range shims {
		shimSet[p] = true
	}
	roots := map[int]bool{os.Getpid(): true}
	if p := containerdPid(); p > 0 {
		roots[p] = true
	}
	for p := range shimSet {
		roots[p] = true
	}
	initBin := filepath.Join(testEnv.repo, "bin", "raind-init")
	h := hostUsage{shims: len(shims)}
	for pid, st := range stats {
		if st.state == 'Z' && under(stats, st.ppid, roots) {
			h.zombies++
		}
		if !shimSet[pid] && under(stats, st.ppid, shimSet) {
			h.containerProcs++
		}
		if exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe")); err == nil &&
			strings.TrimSuffix(exe, " (deleted)") == initBin {
			h.inits++
		}
	}
	h.mounts = len(mountsUnder(testEnv.dir))
	h.allMounts = countLines("/proc/self/mountinfo")
	h.cgroups = loadCgroupDirs()
	return h
}

// waitHostFlat polls until the host is back to want (the shims' exits and
// containerd's cleanup of a deleted task are asynchronous), and fails the
// test with both snapshots if it does not come back within timeout.
func waitHostFlat(t *testing.T, what string, want hostUsage, timeout time.Duration) hostUsage {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := hostSnapshot(t)
		if got.within(want) {
			t.Logf("%s: host flat: before %v, after %v", what, want, got)
			return got
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: host not back to baseline after %s:\n  before %v\n  after  %v", what, timeout, want, got)
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// shimMem is a shim's memory in KiB: resident, proportional (shared pages
// divided among their users) and private (this shim's alone).
type shimMem struct {
	rss, pss, private int
}

func (m shimMem) String() string {
	return fmt.Sprintf("rss=%dKiB pss=%dKiB private=%dKiB", m.rss, m.pss, m.private)
}

func readShimMem(pid int) shimMem {
	var m shimMem
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Rss:":
			m.rss = v
		case "Pss:":
			m.pss = v
		case "Private_Clean:", "Private_Dirty:":
			m.private += v
		}
	}
	return m
}

// shimSnap is one long-lived shim's usage: the leak counters of
// leak_test.go (fds, threads, goroutines from the shim's own SIGUSR1
// stack dump, children), its mounts and its memory. The shim's mount
// table is its mount namespace's: here the host's, which other users of
// the host change too, so only a growth counts against it.
type shimSnap struct {
	shimUsage
	mounts int
	mem    shimMem
}

func (s shimSnap) String() string {
	return fmt.Sprintf("fds=%d threads=%d goroutines=%d children=%d mounts=%d %v",
		s.fds, s.threads, s.goroutines, s.children, s.mounts, s.mem)
}

func shimSnapshot(t *testing.T, pid int) shimSnap {
	t.Helper()
	// Memory first: the stack dump allocates.
	s := shimSnap{mem: readShimMem(pid)}
	s.shimUsage = usage(t, pid)
	s.mounts = countLines(filepath.Join("/proc", strconv.Itoa(pid), "mountinfo"))
	return s
}

// Tolerances for a long-lived shim against its warm baseline: a ttrpc
// connection's goroutine or fd may be mid-flight; the Go heap breathes.
const (
	fdSlack        = 2
	threadSlack    = 2
	goroutineSlack = 3
	memSlackKiB    = 1024
)

func shimFlat(before, after shimSnap) bool {
	return after.fds <= before.fds+fdSlack && after.threads <= before.threads+threadSlack &&
		after.goroutines <= before.goroutines+goroutineSlack && after.children <= before.children &&
		after.mounts <= before.mounts && after.mem.private <= before.mem.private+memSlackKiB
}

// waitShimFlat polls the shim until it is back to its warm baseline, for
// up to timeout: the Go runtime returns freed memory to the kernel in the
// background, and exits are reaped asynchronously. The baseline is taken
// after a warm-up of the same load, so the runtime's high-water mark of
// threads is nearly all in it (the runtime never ends an idle thread); a
// leak of one per container or exec shows as hundreds.
func waitShimFlat(t *testing.T, what string, pid int, before shimSnap, timeout time.Duration) shimSnap {
	t.Helper()
	deadline := time.Now().Add(timeout)
	start := time.Now()
	for {
		after := shimSnapshot(t, pid)
		if shimFlat(before, after) {
			t.Logf("%s: shim %d flat after %s settling:\n  warm  %v\n  after %v", what, pid, time.Since(start).Round(time.Second), before, after)
			return after
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: shim %d not back to its warm baseline after %s:\n  warm  %v\n  after %v\n  fds: %s",
				what, pid, timeout, before, after, fdTargets(pid))
			return after
		}
		time.Sleep(2 * time.Second)
	}
}

// exited reports whether pid is gone or a zombie: a shim that exits is
// re-parented to the host's init, which may take a while to reap it.
func exited(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
