package rootfs

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestMountLabelAndRro: a mount label goes on tmpfs mounts and masks as
// context=, and nowhere else; rro applies to bind and other mounts alike.
func TestMountLabelAndRro(t *testing.T) {
	f := newFake()
	root := t.TempDir()
	spec := defaultSpec()
	spec.Root.Readonly = false
	spec.Linux.MountLabel = "system_u:object_r:container_file_t:s0"
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/ro", Type: "bind", Source: "/host/data", Options: []string{"rbind", "rro"}},
		specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"rro", "size=1m"}},
	)
	f.dirs["/proc/kcore"] = true
	if err := Setup(f, spec, root, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := ProtectPaths(f, spec); err != nil {
		t.Fatal(err)
	}
	ctx := `context="system_u:object_r:container_file_t:s0"`
	f.has(t, fmt.Sprintf("mount tmpfs %s/dev tmpfs %#x mode=755,size=65536k,%s", root, unix.MS_NOSUID|unix.MS_STRICTATIME, ctx))
	f.has(t, fmt.Sprintf("mount tmpfs %s/scratch tmpfs 0x0 size=1m,%s", root, ctx))
	f.has(t, fmt.Sprintf("mount tmpfs /proc/kcore tmpfs %#x %s", unix.MS_RDONLY, ctx))
	f.has(t, fmt.Sprintf("rro %s/ro", root))
	f.has(t, fmt.Sprintf("rro %s/scratch", root))
	for _, c := range f.calls {
		if strings.Contains(c, "context=") && !strings.Contains(c, " tmpfs ") {
			t.Errorf("label on a mount that is not tmpfs: %s", c)
		}
	}
}

func TestMountLabelHint(t *testing.T) {
	f := newFake()
	f.failOn = "context="
	f.failErr = unix.EINVAL
	spec := defaultSpec()
	spec.Linux.MountLabel = "l"
	err := Setup(f, spec, t.TempDir(), Options{})
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "linux.mountLabel") {
		t.Errorf("mount label refused by the kernel: %v", err)
	}
}
