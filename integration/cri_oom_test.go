package integration

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestCRIOOM: a CRI container that the kernel OOM-kills is reported with
// reason OOMKilled, as kubelet expects. When the victim is the init, CRI
// could also tell from the exit code (137) and the cgroup's kill count in
// the task's metrics; when it is a child and the init exits 3, only the
// TaskOOM event tells.
func TestCRIOOM(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		t.Skip("no cgroup v1 memory controller")
	}
	setupCRI(t)
	pod, podCfg := runPod(t, newID("oompod"), obj{})
	resources := obj{"memory_limit_in_bytes": oomLimit}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
		resources["memory_swap_limit_in_bytes"] = oomLimit
	}
	cases := []struct {
		name    string
		command []string
		code    int
	}{
		{"init", oomCommand, 137},
		{"child", []string{"sh", "-c", strings.Join(oomCommand, " ") + "; exit 3"}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := startContainer(t, pod, podCfg, tc.name, obj{"command": tc.command, "linux": obj{"resources": resources}})
			deadline := time.Now().Add(time.Minute)
			var st criContainer
			for {
				st = criInspect(t, "inspect", id)
				if st.Status.State == "CONTAINER_EXITED" && st.Status.Reason == "OOMKilled" || time.Now().After(deadline) {
					break
				}
				if st.Status.State == "CONTAINER_EXITED" {
					// CRI may hear of the exit (task Wait)
					// before it handles the TaskOOM queued
					// ahead of it: the reason can follow the
					// state by a moment, not more.
					if d := time.Now().Add(10 * time.Second); d.Before(deadline) {
						deadline = d
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("%s: state %s, reason %q, exit code %d", tc.name, st.Status.State, st.Status.Reason, st.Status.ExitCode)
			if st.Status.State != "CONTAINER_EXITED" || st.Status.Reason != "OOMKilled" || st.Status.ExitCode != tc.code {
				t.Errorf("%s: state %s, reason %q, exit code %d; want CONTAINER_EXITED, OOMKilled, %d",
					tc.name, st.Status.State, st.Status.Reason, st.Status.ExitCode, tc.code)
			}
		})
	}
}
