package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// TestShimInfoIDMap: -info says id-mapped mounts are there, with their
// options, and the user namespace they come with: what containerd's CRI
// looks for before it runs a pod with hostUsers: false on a handler.
func TestShimInfoIDMap(t *testing.T) {
	cmd := exec.Command(shimBinary(), "-info")
	cmd.Stdin = strings.NewReader("")
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("-info: %v", err)
	}
	var info types.RuntimeInfo
	if err := proto.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	v, err := typeurl.UnmarshalAny(info.Features)
	if err != nil {
		t.Fatal(err)
	}
	f := v.(*features.Features)
	if m := f.Linux.MountExtensions; m == nil || m.IDMap == nil || m.IDMap.Enabled == nil || !*m.IDMap.Enabled {
		t.Errorf("mount extensions %+v: want idmap enabled", m)
	}
	if !slices.Contains(f.MountOptions, "idmap") || !slices.Contains(f.MountOptions, "ridmap") || !slices.Contains(f.Linux.Namespaces, "user") {
		t.Errorf("mount options %v, namespaces %v: want idmap, ridmap and user", f.MountOptions, f.Linux.Namespaces)
	}
}

// hostOwnedDir is a directory holding file f, both owned by uid:gid on the
// host, reachable by strangers.
func hostOwnedDir(t *testing.T, uid, gid int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "f")} {
		if err := os.Lchown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	reachable(t, dir)
	return dir
}

func diskOwner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

// TestIDMapBindMount: in a user namespace mapping 0 to host 100000, a
// host directory of uid 1000 bound plainly shows its files as nobody's; id
// mapped 1000 -> 100000 (the mount's own mappings) they are root's, and
// what root makes there lands on the host as 1000's. "idmap" without
// mappings takes the container's: a host root's directory is root's
// inside, and root's files land as host root's.
func TestIDMapBindMount(t *testing.T) {
	rootfs := remappedRootfs(t)
	users := hostOwnedDir(t, 1000, 1000)
	roots := hostOwnedDir(t, 0, 0)
	toRoot := []specs.LinuxIDMapping{{ContainerID: 1000, HostID: hostRoot, Size: 100}}
	opts := append(withUserns(rootfs), oci.WithMounts([]specs.Mount{
		{Destination: "/plain", Type: "bind", Source: users, Options: []string{"rbind"}},
		{Destination: "/mapped", Type: "bind", Source: users, Options: []string{"rbind", "idmap"}, UIDMappings: toRoot, GIDMappings: toRoot},
		{Destination: "/own", Type: "bind", Source: roots, Options: []string{"bind", "idmap"}},
	}))
	r := mustRun(t, opts, "sh", "-c", `stat -c '%n %u:%g' /plain/f /mapped/f /own/f; touch /mapped/made /own/made; echo made=$?`)
	if r.code != 0 || !strings.Contains(r.stdout, "made=0") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"/plain/f 65534:65534\n", "/mapped/f 0:0\n", "/own/f 0:0\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("owners inside: %q, want %q", r.stdout, want)
		}
	}
	if uid, gid := diskOwner(t, filepath.Join(users, "made")); uid != 1000 || gid != 1000 {
		t.Errorf("made through the mapped mount by container root: %d:%d on the host, want 1000:1000", uid, gid)
	}
	if uid, gid := diskOwner(t, filepath.Join(roots, "made")); uid != 0 || gid != 0 {
		t.Errorf("made through idmap with the container's mappings: %d:%d on the host, want 0:0", uid, gid)
	}
}

// TestIDMapWithoutUserns: a container of the host's user namespace sees a
// mount mapped 1000 -> 0 as root's.
func TestIDMapWithoutUserns(t *testing.T) {
	users := hostOwnedDir(t, 1000, 1000)
	m := []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 0, Size: 1}}
	r := mustRun(t, []oci.SpecOpts{oci.WithRootFSPath(testEnv.rootfs()), oci.WithMounts([]specs.Mount{
		{Destination: "/mapped", Type: "bind", Source: users, Options: []string{"rbind", "ro"}, UIDMappings: m, GIDMappings: m},
	})}, "sh", "-c", `stat -c '%u:%g' /mapped/f; touch /mapped/x; echo touch=$?`)
	if !strings.HasPrefix(r.stdout, "0:0\n") {
		t.Errorf("owner through the mapped mount: %q, want 0:0", r.stdout)
	}
	if !strings.Contains(r.stdout, "touch=1") {
		t.Errorf("ro was not kept on the id-mapped mount: %q %q", r.stdout, r.stderr)
	}
}

// TestIDMapUnsupportedFilesystem: a filesystem that cannot be id-mapped
// fails the create with an error naming it and the mount's source.
func TestIDMapUnsupportedFilesystem(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("ramfs", dir, "ramfs", 0, ""); err != nil {
		t.Skipf("mount ramfs: %v", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	_, err := runIn(t, []oci.SpecOpts{oci.WithRootFSPath(testEnv.rootfs()), oci.WithMounts([]specs.Mount{
		{Destination: "/mapped", Type: "bind", Source: dir, Options: []string{"bind"}, UIDMappings: m, GIDMappings: m},
	})}, "true")
	if err == nil || !strings.Contains(err.Error(), `filesystem "ramfs"`) || !strings.Contains(err.Error(), dir) {
		t.Errorf("create with an id-mapped ramfs: %v, want an error naming ramfs and %s", err, dir)
	}
}
