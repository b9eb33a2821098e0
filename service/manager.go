package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/raind/raind/runtime"
)

// Version is raind's version. The linker sets it (-X, see the Makefile),
// which needs a variable; nothing changes it at run time.
var Version = "0.1.0-dev"

// groupAnnotation puts the containers of one pod in one shim.
const groupAnnotation = "io.kubernetes.cri.sandbox-id"

// initPidFile records the init's pid in the bundle for the delete action.
const initPidFile = "init.pid"

// NewManager returns the shim.Shim behind the start, delete and -info
// actions.
func NewManager(name string) shim.Shim {
	return manager{name: name}
}

type manager struct{ name string }

func (m manager) Name() string { return m.name }

// Start launches the long-running shim, or points containerd at the shim
// already serving the container's group.
func (m manager) Start(ctx context.Context, params *bootapi.BootstrapParams) (_ *bootapi.BootstrapResult, retErr error) {
	id := params.GetInstanceID()
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	grouping := id
	if spec, err := readSpec("."); err == nil {
		if g := spec.Annotations[groupAnnotation]; g != "" {
			grouping = g
		}
	}
	socketDir := params.GetSocketDir()
	if socketDir == "" {
		socketDir = filepath.Join(defaults.DefaultStateDir, "s")
	}
	result := &bootapi.BootstrapResult{Version: 3, Protocol: "ttrpc"}
	address, err := shim.CreateSocketAddress(ctx, socketDir, params.GetContainerdGrpcAddress(), grouping, false)
	if err != nil {
		return nil, err
	}
	listener, err := shim.NewSocket(address)
	if err != nil {
		if !shim.SocketEaddrinuse(err) {
			return nil, fmt.Errorf("create shim socket: %w", err)
		}
		if shim.CanConnect(address) {
			result.Address = address
			return result, nil
		}
		if err := shim.RemoveSocket(address); err != nil {
			return nil, fmt.Errorf("remove stale shim socket: %w", err)
		}
		if listener, err = shim.NewSocket(address); err != nil {
			return nil, fmt.Errorf("create shim socket: %w", err)
		}
	}
	defer func() {
		if retErr != nil {
			listener.Close()
			_ = shim.RemoveSocket(address)
		}
	}()
	f, err := listener.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()

	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	args := []string{"-namespace", ns, "-id", id, "-address", params.GetContainerdGrpcAddress()}
	if params.GetLogLevel() <= bootapi.LogLevel_LOG_LEVEL_DEBUG {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, args...)
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// The daemon outlives this process; Release drops our handle on it so
	// nothing here waits for it.
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	if err := shim.AdjustOOMScore(pid); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return nil, fmt.Errorf("adjust shim oom score: %w", err)
	}
	if err := shim.WritePidFile("shim.pid", pid); err != nil {
		return nil, err
	}
	if err := os.WriteFile("address", []byte(address), 0o600); err != nil {
		return nil, err
	}
	result.Address = address
	return result, nil
}

// Stop cleans up after a shim that is gone: it kills what is left in the
// container's cgroup, unmounts the rootfs and removes the cgroup. Running it
// twice does no harm.
func (m manager) Stop(ctx context.Context, id string) (shim.StopStatus, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return shim.StopStatus{}, err
	}
	bundle := filepath.Join(filepath.Dir(cwd), id)
	spec, err := readSpec(bundle)
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		log.G(ctx).WithError(err).Warn("reading spec for cleanup")
	}
	if spec != nil {
		if err := runtime.Cleanup(spec, id); err != nil {
			log.G(ctx).WithError(err).Warn("cleaning up container cgroup")
		}
	}
	if err := mount.UnmountRecursive(filepath.Join(bundle, "rootfs"), 0); err != nil {
		log.G(ctx).WithError(err).Warn("unmount rootfs")
	}
	pid := 0
	if b, err := os.ReadFile(filepath.Join(bundle, initPidFile)); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	return shim.StopStatus{Pid: pid, ExitStatus: 128 + int(syscall.SIGKILL), ExitedAt: time.Now()}, nil
}

// Info describes raind and what it really supports.
func (m manager) Info(ctx context.Context, optionsR io.Reader) (*types.RuntimeInfo, error) {
	info := &types.RuntimeInfo{
		Name:    m.name,
		Version: &types.RuntimeVersion{Version: Version},
	}
	f, err := typeurl.MarshalAnyToProto(Features())
	if err != nil {
		return nil, fmt.Errorf("marshal features: %w", err)
	}
	info.Features = f
	return info, nil
}

// Features lists the runtime-spec features raind implements today.
func Features() *features.Features {
	yes := true
	no := false
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{},
		MountOptions: []string{
			"ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
			"sync", "async", "dirsync", "remount", "mand", "nomand",
			"atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime",
			"strictatime", "nostrictatime", "bind", "rbind",
			"private", "rprivate", "shared", "rshared", "slave", "rslave",
			"unbindable", "runbindable",
		},
		Linux: &features.Linux{
			Namespaces: []string{
				string(specs.PIDNamespace), string(specs.NetworkNamespace), string(specs.MountNamespace),
				string(specs.IPCNamespace), string(specs.UTSNamespace), string(specs.CgroupNamespace),
			},
			Capabilities: nil,
			Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no},
			Seccomp:      &features.Seccomp{Enabled: &no},
			Apparmor:     &features.Apparmor{Enabled: &no},
			Selinux:      &features.Selinux{Enabled: &no},
		},
	}
}
