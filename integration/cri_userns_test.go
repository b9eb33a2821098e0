package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// criUsernsHost is the host id of the pod's root: a multiple of 65536, as
// the kubelet picks them.
const criUsernsHost = 5 * 65536

// TestCRIUsernsPod: a pod with hostUsers: false (userns_options, mode
// POD) runs its container as root of a user namespace mapped to
// criUsernsHost; the image, whose files are root's, is root's inside and
// writable (containerd's snapshot is id-mapped, or chowned), and the
// container's processes are criUsernsHost on the host.
func TestCRIUsernsPod(t *testing.T) {
	setupCRI(t)
	containerdDirReachable(t)
	idMap := []obj{{"host_id": criUsernsHost, "container_id": 0, "length": 65536}}
	userns := obj{"security_context": obj{"namespace_options": obj{"userns_options": obj{"mode": 0, "uids": idMap, "gids": idMap}}}}
	pod, podCfg := runPod(t, newID("pod"), userns)
	id := startContainer(t, pod, podCfg, "userns", obj{"linux": userns})
	out := crictl(t, "exec", "-s", id, "sh", "-c", `cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c '%n %u:%g' /bin/sh /etc; touch /made && echo made=ok`)
	fields := strings.Fields(out)
	want := []string{"0", fmt.Sprint(criUsernsHost), "65536", "0", fmt.Sprint(criUsernsHost), "65536", "0", "/bin/sh", "0:0", "/etc", "0:0", "made=ok"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("inside the pod:\n%s\nwant %v", out, want)
	}

	var insp struct {
		Info struct {
			Pid int `json:"pid"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(crictl(t, "inspect", id)), &insp); err != nil || insp.Info.Pid == 0 {
		t.Fatalf("inspect: pid %d, %v", insp.Info.Pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", insp.Info.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "Uid:") && strings.Fields(l)[1] != fmt.Sprint(criUsernsHost) {
			t.Errorf("the container's process on the host: %q, want uid %d", l, criUsernsHost)
		}
	}
	// The image as the host sees it through the container's root: the
	// container's root's, however containerd made it so.
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/root/made", insp.Info.Pid), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != criUsernsHost || st.Gid != criUsernsHost {
		t.Errorf("a file root made in the pod is %d:%d on the host, want %d", st.Uid, st.Gid, criUsernsHost)
	}
}

// containerdDirReachable opens the private containerd's directory to
// others (0711) for the test: a user-namespaced container's root must pass
// through containerd's state to its rootfs, as through /run/containerd
// (0711) on a real host, and the test's temporary directory is 0700. (Bind
// sources under containerd's closed directories, such as a pod's
// /dev/shm, its init need not reach: raind attaches them from outside.)
func containerdDirReachable(t *testing.T) {
	t.Helper()
	dir := filepath.Dir(testEnv.socket)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, fi.Mode().Perm()) })
}
