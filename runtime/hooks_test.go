package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// hookScript writes a host shell script that records, under dir/name:
// its state (stdin), the namespaces and root of the state's pid and its
// own, and appends name to dir/order.
func hookScript(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name+".sh")
	body := `#!/bin/sh
out=` + dir + `/` + name + `
cat > $out.state
pid=$(grep -o '"pid":[0-9]*' $out.state | cut -d: -f2)
if [ -n "$pid" ]; then
	readlink /proc/$pid/ns/mnt > $out.pidmnt
	readlink /proc/$pid/ns/net > $out.pidnet
	readlink /proc/$pid/root > $out.pidroot
fi
readlink /proc/self/ns/mnt > $out.selfmnt
readlink /proc/self/ns/net > $out.selfnet
echo "$1" > $out.arg
echo ` + name + ` >> ` + dir + `/order
`
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func readHook(t *testing.T, dir, name, what string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+"."+what))
	if err != nil {
		t.Fatalf("hook %s did not record %s: %v", name, what, err)
	}
	return strings.TrimSpace(string(b))
}

func hookStateOf(t *testing.T, dir, name string) specs.State {
	t.Helper()
	var st specs.State
	if err := json.Unmarshal([]byte(readHook(t, dir, name, "state")), &st); err != nil {
		t.Fatalf("%s state: %v", name, err)
	}
	return st
}

func TestHooksRunInOrderAndNamespaces(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	startReaper(t)
	rootfs := busybox(t)
	dir := t.TempDir()
	// startContainer resolves and runs in the container.
	inside := "#!/bin/sh\ncat > /tmp/start.state\nreadlink /proc/self/ns/mnt > /tmp/start.selfmnt\nhostname > /tmp/start.hostname\necho \"$FOO\" > /tmp/start.env\n"
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "starthook"), []byte(inside), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := testSpec(rootfs, "sh", "-c", "echo running")
	spec.Process.Env = append(spec.Process.Env, "FOO=from-process")
	spec.Annotations = map[string]string{"k": "v"}
	ten := 10
	spec.Hooks = &specs.Hooks{
		Prestart:        []specs.Hook{{Path: hookScript(t, dir, "prestart"), Args: []string{"prestart", "a1"}}}, //lint:ignore SA1019 still run
		CreateRuntime:   []specs.Hook{{Path: hookScript(t, dir, "createRuntime"), Args: []string{"x", "cr"}, Timeout: &ten}},
		CreateContainer: []specs.Hook{{Path: hookScript(t, dir, "createContainer")}},
		StartContainer:  []specs.Hook{{Path: "/bin/starthook"}},
		Poststart:       []specs.Hook{{Path: hookScript(t, dir, "poststart")}},
		Poststop:        []specs.Hook{{Path: hookScript(t, dir, "poststop")}},
	}
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := NewConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Create(ctx, CreateOpts{ID: "hooked", Bundle: "/the/bundle", Config: cfg, Stdio: Stdio{In: null, Out: null, Err: null}, Monitor: reaper.Default, Cgroups: testCgroups()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy(context.Background())
	pid := c.Init().Pid()
	selfMnt, _ := os.Readlink("/proc/self/ns/mnt")
	selfNet, _ := os.Readlink("/proc/self/ns/net")
	ctrMnt, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "ns/mnt"))
	ctrNet, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "ns/net"))
	if ctrMnt == selfMnt || ctrNet == selfNet {
		t.Fatal("container shares our namespaces")
	}
	for _, name := range []string{"prestart", "createRuntime"} {
		st := hookStateOf(t, dir, name)
		if st.Status != specs.StateCreating || st.Pid != pid || st.ID != "hooked" || st.Bundle != "/the/bundle" || st.Annotations["k"] != "v" || st.Version != specs.Version {
			t.Errorf("%s state %+v (pid %d)", name, st, pid)
		}
		// In the runtime's namespaces, looking at the container's, which
		// exist; before the root switch.
		if readHook(t, dir, name, "selfmnt") != selfMnt || readHook(t, dir, name, "selfnet") != selfNet {
			t.Errorf("%s did not run in the runtime's namespaces", name)
		}
		if readHook(t, dir, name, "pidmnt") != ctrMnt || readHook(t, dir, name, "pidnet") != ctrNet {
			t.Errorf("%s saw namespaces %s %s, want the container's %s %s", name,
				readHook(t, dir, name, "pidmnt"), readHook(t, dir, name, "pidnet"), ctrMnt, ctrNet)
		}
		if r := readHook(t, dir, name, "pidroot"); r != "/" {
			t.Errorf("%s ran after the root switch: the init's root is %s", name, r)
		}
	}
	if a := readHook(t, dir, "prestart", "arg"); a != "a1" {
		t.Errorf("prestart args: $1=%q", a)
	}
	if a := readHook(t, dir, "createRuntime", "arg"); a != "cr" {
		t.Errorf("createRuntime args: $1=%q", a)
	}
	// createContainer: in the container's namespaces, before the switch.
	st := hookStateOf(t, dir, "createContainer")
	if st.Status != specs.StateCreating || st.Pid != pid || st.ID != "hooked" || st.Bundle != "/the/bundle" || st.Annotations["k"] != "v" {
		t.Errorf("createContainer state %+v", st)
	}
	if readHook(t, dir, "createContainer", "selfmnt") != ctrMnt || readHook(t, dir, "createContainer", "selfnet") != ctrNet {
		t.Error("createContainer did not run in the container's namespaces")
	}
	order, _ := os.ReadFile(filepath.Join(dir, "order"))
	if string(order) != "prestart\ncreateRuntime\ncreateContainer\n" {
		t.Fatalf("order after Create %q", order)
	}
	startState := filepath.Join(rootfs, "tmp", "start.state")
	if _, err := os.Stat(startState); err == nil {
		t.Fatal("startContainer ran before Start")
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// poststart ran before Start returned, after startContainer.
	order, _ = os.ReadFile(filepath.Join(dir, "order"))
	if string(order) != "prestart\ncreateRuntime\ncreateContainer\npoststart\n" {
		t.Fatalf("order after Start %q", order)
	}
	b, err := os.ReadFile(startState)
	if err != nil {
		t.Fatalf("startContainer: %v", err)
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Status != specs.StateCreated || st.Pid != pid || st.ID != "hooked" {
		t.Errorf("startContainer state %s: %v", b, err)
	}
	if m, _ := os.ReadFile(filepath.Join(rootfs, "tmp", "start.selfmnt")); strings.TrimSpace(string(m)) != ctrMnt {
		t.Errorf("startContainer mnt ns %q, want %q", m, ctrMnt)
	}
	if h, _ := os.ReadFile(filepath.Join(rootfs, "tmp", "start.hostname")); strings.TrimSpace(string(h)) != "rt-test" {
		t.Errorf("startContainer hostname %q", h)
	}
	if e, _ := os.ReadFile(filepath.Join(rootfs, "tmp", "start.env")); strings.TrimSpace(string(e)) != "from-process" {
		t.Errorf("startContainer env %q: want the process's", e)
	}
	st = hookStateOf(t, dir, "poststart")
	if st.Status != specs.StateRunning || st.Pid != pid {
		t.Errorf("poststart state %+v", st)
	}
	if readHook(t, dir, "poststart", "selfmnt") != selfMnt {
		t.Error("poststart not in the runtime's namespaces")
	}
	if _, err := os.Stat(filepath.Join(dir, "poststop.state")); err == nil {
		t.Fatal("poststop before Destroy")
	}
	_ = c.KillAll(unix.SIGKILL)
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	st = hookStateOf(t, dir, "poststop")
	if st.Status != specs.StateStopped || st.ID != "hooked" || st.Bundle != "/the/bundle" {
		t.Errorf("poststop state %+v", st)
	}
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	order, _ = os.ReadFile(filepath.Join(dir, "order"))
	if string(order) != "prestart\ncreateRuntime\ncreateContainer\npoststart\npoststop\n" {
		t.Fatalf("order after Destroy (twice) %q", order)
	}
}

// A failing create-time hook fails Create, names the hook and what it
// said, and leaves no process or cgroup; the poststop hooks still run
// (runtime-spec lifecycle steps 12 and 13).
func TestFailingCreateHooks(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	startReaper(t)
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	one := 1
	for _, tc := range []struct {
		name  string
		hooks func(fail string) *specs.Hooks
		want  string
	}{
		{"prestart", func(f string) *specs.Hooks { return &specs.Hooks{Prestart: []specs.Hook{{Path: f}}} }, "prestart hook #0"}, //lint:ignore SA1019 still run
		{"createRuntime", func(f string) *specs.Hooks {
			return &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true"}, {Path: f}}}
		}, "createRuntime hook #1"},
		{"createContainer", func(f string) *specs.Hooks { return &specs.Hooks{CreateContainer: []specs.Hook{{Path: f}}} }, "createContainer hook #0"},
		{"timeout", func(string) *specs.Hooks {
			return &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "30"}, Timeout: &one}}}
		}, "timed out after 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fail := filepath.Join(dir, "fail.sh")
			if err := os.WriteFile(fail, []byte("#!/bin/sh\necho $$ > "+dir+"/hookpid\necho 'no network today' >&2\nexit 7\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			rootfs := busybox(t)
			spec := testSpec(rootfs, "sleep", "100")
			spec.Hooks = tc.hooks(fail)
			spec.Hooks.Poststop = []specs.Hook{{Path: hookScript(t, dir, "poststop")}}
			cfg, err := NewConfig(spec)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			before := countProcs(t)
			c, err := Create(ctx, CreateOpts{ID: "failhook", Config: cfg, Stdio: Stdio{In: null, Out: null, Err: null}, Monitor: reaper.Default, Cgroups: testCgroups()})
			if err == nil {

				c.Destroy(context.Background())
				t.Fatal("Create succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if tc.name != "timeout" && (!strings.Contains(err.Error(), "status 7") || !strings.Contains(err.Error(), "no network today")) {
				t.Errorf("error %q lacks the hook's status and output", err)
			}
			if _, err := os.Stat("/sys/fs/cgroup/memory/raind-rt-test/" + filepath.Base(rootfs)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cgroup left behind: %v", err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for countProcs(t) > before && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if n := countProcs(t); n > before {
				t.Errorf("%d processes left behind", n-before)
			}
			if st := hookStateOf(t, dir, "poststop"); st.Status != specs.StateStopped || st.ID != "failhook" {
				t.Errorf("poststop state %+v", st)
			}
		})
	}
}

// countProcs counts this test process's descendants (children of a
// subreaper include orphans).
func countProcs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		for p := pid; p > 1; {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
			if err != nil {
				break
			}
			s := string(b)
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
			pp, _ := strconv.Atoi(f[1])
			if pp == self {
				n++
				break
			}
			p = pp
		}
	}
	return n
}

// A failing startContainer hook fails Start; a failing poststart hook
// does not, and the hooks after it still run.
func TestFailingStartHooks(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	startReaper(t)
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	create := func(spec *specs.Spec) *Container {
		cfg, err := NewConfig(spec)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Create(ctx, CreateOpts{ID: "starthooks", Config: cfg, Stdio: Stdio{In: null, Out: null, Err: null}, Monitor: reaper.Default, Cgroups: testCgroups()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.KillAll(unix.SIGKILL); c.Destroy(context.Background()) })
		return c
	}
	spec := testSpec(busybox(t), "sleep", "100")
	spec.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo refused >&2; exit 9"}}}}
	c := create(spec)
	if err := c.Start(ctx); err == nil || !strings.Contains(err.Error(), "startContainer hook #0") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Start: %v", err)
	}

	dir := t.TempDir()
	spec = testSpec(busybox(t), "sleep", "100")
	spec.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/false"}, {Path: hookScript(t, dir, "poststart")}}}
	c = create(spec)
	if err := c.Start(ctx); err != nil {
		t.Fatalf("Start with a failing poststart hook: %v", err)
	}
	if st := hookStateOf(t, dir, "poststart"); st.Status != specs.StateRunning {
		t.Errorf("second poststart hook: %+v", st)
	}
}

// TestCleanupRunsPoststop: after the container's owner died, Cleanup
// removes the container and runs its poststop hooks from the bundle's
// config.json; once the container is gone it does nothing.
func TestCleanupRunsPoststop(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	startReaper(t)
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	bundle := t.TempDir()
	spec := testSpec(busybox(t), "sleep", "100")
	spec.Annotations = map[string]string{"k": "v"}
	spec.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: hookScript(t, dir, "poststop")}}}
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Create(ctx, CreateOpts{ID: "orphan", Bundle: bundle, Config: cfg, Stdio: Stdio{In: null, Out: null, Err: null}, Monitor: reaper.Default, Cgroups: testCgroups()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := c.Init().Pid()
	// The owner "dies": nothing destroys c.
	if err := Cleanup(ctx, bundle, "orphan", reaper.Default, testCgroups()); err != nil {
		t.Fatal(err)
	}
	st := hookStateOf(t, dir, "poststop")
	if st.Status != specs.StateStopped || st.ID != "orphan" || st.Bundle != bundle || st.Annotations["k"] != "v" {
		t.Errorf("poststop state %+v", st)
	}
	if _, err := os.Stat("/sys/fs/cgroup/pids" + spec.Linux.CgroupsPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup left: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for unix.Kill(pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if unix.Kill(pid, 0) == nil {
		t.Error("init still alive")
	}
	if err := Cleanup(ctx, bundle, "orphan", nil, testCgroups()); err != nil {
		t.Fatal(err)
	}
	if o, _ := os.ReadFile(filepath.Join(dir, "order")); string(o) != "poststop\n" {
		t.Errorf("poststop ran %q", o)
	}
	// Without a config.json there is nothing to clean.
	if err := Cleanup(ctx, t.TempDir(), "orphan", nil, testCgroups()); err != nil {
		t.Fatal(err)
	}
}
