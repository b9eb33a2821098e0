package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSystemdCgroupWithoutSystemd: a "slice:prefix:name" cgroupsPath, as
// Kubernetes gives with the systemd cgroup driver, goes to systemd; on a
// host not booted with systemd the create fails saying so, and leaves no
// cgroup and no shim behind.
func TestSystemdCgroupWithoutSystemd(t *testing.T) {
	if fi, err := os.Lstat("/run/systemd/system"); err == nil && fi.IsDir() {
		t.Skip("this host runs systemd; the refusal is for hosts without it")
	}
	id := newID("sdcg")
	expectCtrError(t, "systemd cgroup driver: systemd is not running", "run", "--rm", "--runtime", runtimeName,
		"--cgroup", "raindit.slice:raind:"+id, "--rootfs", busyboxRootfs(t), id, "true")
	runCtr(t, 20*time.Second, "", "container", "rm", id)
	for _, pattern := range []string{"/sys/fs/cgroup/*/raindit.slice", "/sys/fs/cgroup/raindit.slice", "/sys/fs/cgroup/unified/raindit.slice"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			t.Errorf("left behind: %v", m)
		}
	}
}
