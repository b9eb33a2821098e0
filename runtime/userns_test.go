package runtime

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/raind/raind/runtime/nsenter"
)

func idmap(c, h, n uint32) specs.LinuxIDMapping {
	return specs.LinuxIDMapping{ContainerID: c, HostID: h, Size: n}
}

func TestFormatIDMap(t *testing.T) {
	got, err := formatIDMap("linux.uidMappings", []specs.LinuxIDMapping{idmap(0, 100000, 65536), idmap(65536, 1000, 1)})
	if err != nil || got != "0 100000 65536\n65536 1000 1\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	many := make([]specs.LinuxIDMapping, 341)
	for i := range many {
		many[i] = idmap(uint32(i), uint32(100000+i), 1)
	}
	for name, tc := range map[string]struct {
		ms   []specs.LinuxIDMapping
		want string
	}{
		"none":              {nil, "needs mappings"},
		"over the limit":    {many, "at most 340"},
		"size 0":            {[]specs.LinuxIDMapping{idmap(0, 100000, 0)}, "size 0"},
		"past the last id":  {[]specs.LinuxIDMapping{idmap(0, 4294967290, 10)}, "past the last id"},
		"container overlap": {[]specs.LinuxIDMapping{idmap(0, 100000, 10), idmap(5, 200000, 10)}, "overlap inside"},
		"host overlap":      {[]specs.LinuxIDMapping{idmap(0, 100000, 10), idmap(10, 100009, 10)}, "overlap on the host"},
		"root unmapped":     {[]specs.LinuxIDMapping{idmap(1, 100000, 10)}, "container id 0"},
	} {
		_, err := formatIDMap("linux.gidMappings", tc.ms)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "linux.gidMappings") {
			t.Errorf("%s: %v, want InvalidArgument naming linux.gidMappings and %q", name, err, tc.want)
		}
	}
	// 340 lines is the kernel's limit, not past it.
	if _, err := formatIDMap("x", many[:340]); err != nil {
		t.Errorf("340 mappings: %v", err)
	}
}

func TestFormatTimeOffsets(t *testing.T) {
	got, err := formatTimeOffsets(map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 86400}, "boottime": {Secs: -5, Nanosecs: 7}})
	if err != nil || got != "boottime -5 7\nmonotonic 86400 0\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, bad := range []map[string]specs.LinuxTimeOffset{{"realtime": {Secs: 1}}, {"monotonic": {Nanosecs: 1e9}}} {
		if _, err := formatTimeOffsets(bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%v: %v, want InvalidArgument", bad, err)
		}
	}
}

func userTimeSpec() *linuxView {
	return &linuxView{
		Namespaces: []specs.LinuxNamespace{
			{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace},
			{Type: specs.TimeNamespace}, {Type: specs.UserNamespace},
		},
		UIDMappings: []specs.LinuxIDMapping{idmap(0, 100000, 65536)},
		GIDMappings: []specs.LinuxIDMapping{idmap(0, 200000, 65536)},
		TimeOffsets: map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 86400}},
	}
}

// TestPlanUserAndTime: a new user namespace is not among the flags the
// constructor unshares together (it is made first, on its own, with the
// maps); a new time namespace is, with its offsets, and needs the fork.
func TestPlanUserAndTime(t *testing.T) {
	p, err := planNamespaces(userTimeSpec())
	if err != nil {
		t.Fatal(err)
	}
	if p.userNS != nsenter.NewUserNS {
		t.Errorf("userNS %v, want new", p.userNS)
	}
	if want := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWTIME); p.newFlags != want {
		t.Errorf("flags %#x, want %#x (no CLONE_NEWUSER)", p.newFlags, want)
	}
	if p.maps == nil || p.maps.UID != "0 100000 65536\n" || p.maps.GID != "0 200000 65536\n" {
		t.Errorf("maps %+v", p.maps)
	}
	if p.timeOffsets != "monotonic 86400 0\n" || !p.fork {
		t.Errorf("offsets %q fork %v", p.timeOffsets, p.fork)
	}

	// A time namespace alone still forks: its offsets apply to children.
	l := &linuxView{Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.TimeNamespace}}}
	if p, err := planNamespaces(l); err != nil || !p.fork || p.newFlags&unix.CLONE_NEWTIME == 0 {
		t.Errorf("time only: %+v %v", p, err)
	}
}

// TestPlanJoinUser: the user namespace of a pod, by path, comes first in
// the join list whatever the spec's order; mappings given with it are kept
// for spawn to compare, and none are needed.
func TestPlanJoinUser(t *testing.T) {
	l := &linuxView{Namespaces: []specs.LinuxNamespace{
		{Type: specs.MountNamespace, Path: "/proc/9/ns/mnt"},
		{Type: specs.NetworkNamespace, Path: "/proc/9/ns/net"},
		{Type: specs.TimeNamespace, Path: "/proc/9/ns/time"},
		{Type: specs.UserNamespace, Path: "/proc/9/ns/user"},
		{Type: specs.IPCNamespace},
	}}
	p, err := planNamespaces(l)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/proc/9/ns/user", "/proc/9/ns/net", "/proc/9/ns/time", "/proc/9/ns/mnt"}
	if !reflect.DeepEqual(p.join, want) {
		t.Errorf("join %v, want %v", p.join, want)
	}
	if p.userNS != nsenter.JoinUserNS || p.maps != nil || p.newFlags != unix.CLONE_NEWIPC || p.fork {
		t.Errorf("plan %+v", p)
	}
	l.UIDMappings = []specs.LinuxIDMapping{idmap(0, 100000, 65536)}
	l.GIDMappings = l.UIDMappings
	if p, err = planNamespaces(l); err != nil || p.maps == nil {
		t.Errorf("joined with mappings: %+v %v", p, err)
	}
}

func TestCheckUserTime(t *testing.T) {
	for name, mod := range map[string]func(l *linuxView){
		"mappings without a user namespace": func(l *linuxView) { l.Namespaces = l.Namespaces[:4] },
		"uid mappings only":                 func(l *linuxView) { l.GIDMappings = nil },
		"offsets without a time namespace":  func(l *linuxView) { l.Namespaces = append(l.Namespaces[:3], l.Namespaces[4]) },
		"offsets with a joined time ns":     func(l *linuxView) { l.Namespaces[3].Path = "/proc/1/ns/time" },
		"bad clock":                         func(l *linuxView) { l.TimeOffsets = map[string]specs.LinuxTimeOffset{"tai": {}} },
	} {
		l := userTimeSpec()
		mod(l)
		if err := l.checkUserTime(); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
		if _, err := planNamespaces(l); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: plan: %v, want InvalidArgument", name, err)
		}
	}
}

func TestExecJoinPathsUserTime(t *testing.T) {
	paths := execJoinPaths(42, true, true)
	if len(paths) != 8 || paths[0] != "/proc/42/ns/user" || paths[6] != "/proc/42/ns/time" || paths[7] != "/proc/42/ns/mnt" {
		t.Fatalf("paths %v: user first, time before mount, mount last", paths)
	}
	for _, p := range execJoinPaths(42, false, false) {
		if strings.HasSuffix(p, "/user") || strings.HasSuffix(p, "/time") {
			t.Errorf("exec of a container without user or time namespace joins %s", p)
		}
	}
}

func TestSameIDMap(t *testing.T) {
	kernel := "         0     100000      65536\n     65536       1000          1\n"
	if !sameIDMap(kernel, "65536 1000 1\n0 100000 65536\n") {
		t.Error("same ranges in another order differ")
	}
	if sameIDMap(kernel, "0 100000 65536\n") || sameIDMap(kernel, "0 100001 65536\n65536 1000 1\n") {
		t.Error("different maps equal")
	}
}

// TestConstructorPidMapRequests: a request for maps the spawn did not
// plan, or its absence when it did, kills the child.
func TestConstructorPidMapRequests(t *testing.T) {
	for name, tc := range map[string]struct {
		lines string
		ns    nsenter.Request
		maps  *nsenter.Maps
		want  string
	}{
		"unplanned request":      {"U%d\n", nsenter.Request{}, nil, "unexpected request"},
		"unplanned time request": {"T%d\n", nsenter.Request{}, nil, "unexpected request"},
		"missing request":        {"P%d\n", nsenter.Request{UserNS: nsenter.NewUserNS}, &nsenter.Maps{UID: "0 1 1\n", GID: "0 1 1\n"}, "did not ask"},
		"missing time request":   {"P%d\n", nsenter.Request{TimeOffsets: "monotonic 1 0\n"}, nil, "did not ask"},
		"another process":        {"U1\n", nsenter.Request{UserNS: nsenter.NewUserNS}, &nsenter.Maps{UID: "0 1 1\n", GID: "0 1 1\n"}, "unexpected request"},
	} {
		t.Run(name, func(t *testing.T) {
			sleeper := exec.Command("sleep", "60")
			if err := sleeper.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sleeper.Process.Kill() }()
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			go func() { fmt.Fprintf(b, tc.lines, sleeper.Process.Pid) }()
			_, err := constructorPid(a, sleeper.Process.Pid, tc.ns, tc.maps)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			// The child waits for an answer that never comes: killed.
			if err := sleeper.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
				t.Errorf("child not killed: %v", err)
			}
		})
	}
}

// TestUserMapsSetgroups: as host root (CAP_SETGID) the maps leave
// setgroups(2) to the container, as runc does; without it they deny it,
// which the kernel requires of an unprivileged writer.
func TestUserMapsSetgroups(t *testing.T) {
	l := userTimeSpec()
	m, err := userMaps(l)
	if err != nil {
		t.Fatal(err)
	}
	if m.DenySetgroups != !haveCap(unix.CAP_SETGID) {
		t.Errorf("DenySetgroups %v with CAP_SETGID %v", m.DenySetgroups, haveCap(unix.CAP_SETGID))
	}
	if os.Getuid() == 0 && !haveCap(unix.CAP_SETGID) {
		t.Error("root without CAP_SETGID? haveCap misreads /proc/self/status")
	}
	if haveCap(63) {
		t.Error("capability 63 reported")
	}
}

// TestUserNSProcNeedsPidNS: proc in a user namespace with the host's pid
// namespace is refused up front, naming the mount.
func TestUserNSProcNeedsPidNS(t *testing.T) {
	spec := func(nss ...specs.LinuxNamespace) *specs.Spec {
		return &specs.Spec{
			Process: &specs.Process{Args: []string{"true"}}, Root: &specs.Root{Path: "rootfs"},
			Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
			Linux: &specs.Linux{Namespaces: nss,
				UIDMappings: []specs.LinuxIDMapping{idmap(0, 100000, 65536)}, GIDMappings: []specs.LinuxIDMapping{idmap(0, 100000, 65536)}},
		}
	}
	_, err := NewConfig(spec(specs.LinuxNamespace{Type: specs.MountNamespace}, specs.LinuxNamespace{Type: specs.UserNamespace}))
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "mounts[0] (/proc)") {
		t.Errorf("host pid namespace: %v, want InvalidArgument naming the proc mount", err)
	}
	for _, pid := range []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.PIDNamespace, Path: "/proc/9/ns/pid"}} {
		if _, err := NewConfig(spec(specs.LinuxNamespace{Type: specs.MountNamespace}, specs.LinuxNamespace{Type: specs.UserNamespace}, pid)); err != nil {
			t.Errorf("pid namespace %+v: %v", pid, err)
		}
	}
}
