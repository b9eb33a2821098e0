package runtime

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestPlanNamespacesNew(t *testing.T) {
	p, err := planNamespaces(&linuxView{Namespaces: []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
		{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.CgroupNamespace},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNS | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP)
	if p.newFlags != want {
		t.Errorf("flags %#x, want %#x", p.newFlags, want)
	}
	if !p.fork || len(p.join) != 0 {
		t.Errorf("fork=%v join=%v", p.fork, p.join)
	}
}

func TestPlanNamespacesJoinOrder(t *testing.T) {
	p, err := planNamespaces(&linuxView{Namespaces: []specs.LinuxNamespace{
		{Type: specs.MountNamespace},
		{Type: specs.NetworkNamespace, Path: "/var/run/netns/a"},
		{Type: specs.PIDNamespace, Path: "/proc/1/ns/pid"},
		{Type: specs.IPCNamespace, Path: "/proc/1/ns/ipc"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// ipc, net, pid: the fixed join order, whatever the spec's order.
	want := []string{"/proc/1/ns/ipc", "/var/run/netns/a", "/proc/1/ns/pid"}
	if !reflect.DeepEqual(p.join, want) {
		t.Errorf("join %v, want %v", p.join, want)
	}
	if p.newFlags != unix.CLONE_NEWNS || !p.fork {
		t.Errorf("flags %#x fork %v", p.newFlags, p.fork)
	}
}

func TestPlanNamespacesHostPid(t *testing.T) {
	p, err := planNamespaces(&linuxView{Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.fork {
		t.Error("no pid namespace must not fork")
	}
}

func TestPlanNamespacesErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		nss  []specs.LinuxNamespace
		kind error
	}{
		"user without mappings": {[]specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.UserNamespace}}, errdefs.ErrInvalidArgument},
		"duplicate":             {[]specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.MountNamespace}}, errdefs.ErrInvalidArgument},
		"relative":              {[]specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace, Path: "netns"}}, errdefs.ErrInvalidArgument},
		"no mount":              {[]specs.LinuxNamespace{{Type: specs.PIDNamespace}}, errdefs.ErrInvalidArgument},
		"unknown":               {[]specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: "bogus"}}, errdefs.ErrNotImplemented},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := planNamespaces(&linuxView{Namespaces: tc.nss})
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err %v, want %v", err, tc.kind)
			}
		})
	}
}

func TestExecJoinPaths(t *testing.T) {
	paths := execJoinPaths(42, false, false)
	if len(paths) != 6 || paths[len(paths)-1] != "/proc/42/ns/mnt" {
		t.Fatalf("paths %v: mount must come last", paths)
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, "/proc/42/ns/") {
			t.Errorf("path %s", p)
		}
	}
}

func TestReadPidLine(t *testing.T) {
	for in, want := range map[string]int{"P123\n": 123, "P7\n{": 7} {
		kind, pid, err := readReport(strings.NewReader(in))
		if err != nil || pid != want || kind != 'P' {
			t.Errorf("%q: %d %v", in, pid, err)
		}
	}
	for _, in := range []string{"", "Ejoin namespace /x: No such file\n", "P-1\n", "Pabc\n", "X1\n"} {
		if _, _, err := readReport(strings.NewReader(in)); err == nil {
			t.Errorf("%q: want error", in)
		}
	}
	_, _, err := readReport(strings.NewReader("Ejoin cgroup /sys/x: Permission denied\n"))
	if err == nil || !strings.Contains(err.Error(), "join cgroup /sys/x") {
		t.Errorf("constructor error lost: %v", err)
	}
}
