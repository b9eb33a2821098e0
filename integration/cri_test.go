package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// criNamespace is the containerd namespace of the CRI plugin.
const criNamespace = "k8s.io"

// criCgroupParent is the pods' cgroup parent: without one, CRI puts them
// under /k8s.io, which may be a real node's.
const criCgroupParent = "raind-cri-test"

// criHandler is the runtime handler hack/containerd.sh configures for
// raind; RAIND_CRI_HANDLER=runc checks the tests against the runc shim
// (containerd's default handler).
func criHandler() string {
	if h := os.Getenv("RAIND_CRI_HANDLER"); h != "" {
		return h
	}
	return "raind"
}

type criSetup struct {
	once sync.Once
	err  error
}

// criState is the one CRI set-up of this test binary: the pause and
// busybox images imported into CRI's namespace.
var criState criSetup

func setupCRI(t *testing.T) {
	t.Helper()
	criState.once.Do(func() {
		// hack/containerd.sh's pod network bridge.
		bridge := os.Getenv("RAIND_CRI_BRIDGE")
		if bridge == "" {
			bridge = "raindcri0"
		}
		if err := testEnv.claimLink(bridge); err != nil {
			criState.err = err
			return
		}
		for _, tar := range []string{filepath.Join(testEnv.cache, "pause.tar"), testEnv.imageTar()} {
			cmd := exec.Command(testEnv.ctr(), "--address", testEnv.socket, "--namespace", criNamespace, "images", "import", tar)
			if out, err := cmd.CombinedOutput(); err != nil {
				criState.err = fmt.Errorf("import %s: %v: %s", tar, err, out)
				return
			}
		}
	})
	if criState.err != nil {
		t.Fatal(criState.err)
	}
}

// crictl runs crictl against the private containerd and returns stdout;
// it fails the test on a non-zero exit.
func crictl(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := crictlCode(t, args...)
	if code != 0 {
		t.Fatalf("crictl %v: exit %d\nstdout %q\nstderr %q", args, code, out, errOut)
	}
	return out
}

func crictlCode(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return crictlIn(t, 2*time.Minute, nil, args...)
}

// writeJSON writes v as JSON into the test's temporary directory.
func writeJSON(t *testing.T, name string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type obj = map[string]any

// runPod starts a pod sandbox on the handler under test and removes it
// when the test ends. linux is the pod's linux config.
func runPod(t *testing.T, name string, linux obj) (podID, podConfig string) {
	t.Helper()
	linux["cgroup_parent"] = "/" + criCgroupParent
	cfg := obj{
		"metadata":      obj{"name": name, "namespace": "raind-test", "uid": newID("uid"), "attempt": 1},
		"log_directory": t.TempDir(),
		"linux":         linux,
	}
	podConfig = writeJSON(t, "pod.json", cfg)
	podID = strings.TrimSpace(crictl(t, "runp", "--runtime", criHandler(), podConfig))
	t.Cleanup(func() {
		_, _, _ = crictlCode(t, "stopp", podID)
		_, _, _ = crictlCode(t, "rmp", "-f", podID)
	})
	return podID, podConfig
}

// startContainer creates and starts a container in the pod.
func startContainer(t *testing.T, podID, podConfig, name string, extra obj) string {
	t.Helper()
	cfg := obj{
		"metadata": obj{"name": name},
		"image":    obj{"image": imageRef},
		"command":  []string{"sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"},
		"log_path": name + ".log",
		"linux":    obj{},
	}
	for k, v := range extra {
		cfg[k] = v
	}
	id := strings.TrimSpace(crictl(t, "create", podID, writeJSON(t, "ctr.json", cfg), podConfig))
	crictl(t, "start", id)
	return id
}

// TestCRIPodDefaults: a pod with containerd's default sysctls (every pod
// gets net.ipv4.ip_unprivileged_port_start and ping_group_range) and
// RuntimeDefault seccomp, pod and container.
func TestCRIPodDefaults(t *testing.T) {
	setupCRI(t)
	// profile_type 0 is RuntimeDefault (1 is Unconfined, 2 Localhost).
	runtimeDefault := obj{"seccomp": obj{"profile_type": 0}}
	pod, podCfg := runPod(t, newID("pod"), obj{"security_context": runtimeDefault})
	id := startContainer(t, pod, podCfg, "app", obj{"linux": obj{"security_context": runtimeDefault}})
	out := crictl(t, "exec", "-s", id, "sh", "-c", "cat /proc/sys/net/ipv4/ip_unprivileged_port_start; grep Seccomp: /proc/self/status")
	if !strings.HasPrefix(out, "0\n") || !strings.Contains(out, "Seccomp:\t2") {
		t.Errorf("sysctl and seccomp in the container: %q", out)
	}
	// A syscall the default profile blocks.
	out = crictl(t, "exec", "-s", id, "sh", "-c", "unshare -U true 2>&1; echo rc=$?")
	if strings.Contains(out, "rc=0") {
		t.Errorf("unshare allowed under RuntimeDefault: %q", out)
	}
}

// TestCRIBidirectionalMount: a host path on a shared mount, mounted with
// Bidirectional propagation, makes CRI ask for an rshared rootfs; a mount
// made inside the container then shows up on the host.
func TestCRIBidirectionalMount(t *testing.T) {
	setupCRI(t)
	host := t.TempDir()
	for _, args := range [][]string{{"--bind", host, host}, {"--make-shared", host}} {
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v %s", args, err, out)
		}
	}
	t.Cleanup(func() { _ = syscall.Unmount(host, syscall.MNT_DETACH) })
	privileged := obj{"security_context": obj{"privileged": true}}
	pod, podCfg := runPod(t, newID("pod"), privileged)
	id := startContainer(t, pod, podCfg, "prop", obj{
		"mounts": []obj{{"container_path": "/shared", "host_path": host, "propagation": 2}}, // PROPAGATION_BIDIRECTIONAL
		"linux":  privileged,
	})
	crictl(t, "exec", "-s", id, "sh", "-c", "mkdir -p /shared/sub && mount -t tmpfs tmpfs /shared/sub && echo hi > /shared/sub/f")
	t.Cleanup(func() { _ = syscall.Unmount(filepath.Join(host, "sub"), syscall.MNT_DETACH) })
	b, err := os.ReadFile(filepath.Join(host, "sub", "f"))
	if err != nil || string(b) != "hi\n" {
		mi := crictl(t, "exec", "-s", id, "grep", "-E", " / | /shared", "/proc/self/mountinfo")
		hostMi, _ := os.ReadFile("/proc/self/mountinfo")
		var hostLines []string
		for _, l := range strings.Split(string(hostMi), "\n") {
			if strings.Contains(l, host) || strings.Contains(l, " / / ") {
				hostLines = append(hostLines, l)
			}
		}
		insp := crictl(t, "inspect", id)
		var props []string
		for _, l := range strings.Split(insp, "\n") {
			if strings.Contains(l, "ropagation") || strings.Contains(l, "rshared") || strings.Contains(l, "rslave") {
				props = append(props, strings.TrimSpace(l))
			}
		}
		t.Fatalf("mount made in the container not seen on the host: %q %v\ncontainer's mounts:\n%s\nhost's:\n%s\nspec: %v", b, err, mi, strings.Join(hostLines, "\n"), props)
	}
}
