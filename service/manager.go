package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	bootstrap "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/raind/raind/process"
	"github.com/raind/raind/runtime"
	"github.com/raind/raind/runtime/cgroups"
	"github.com/raind/raind/runtime/mount"
	taskapi "github.com/raind/raind/service/taskv3"
)

// Version is raind's version. The linker sets it (-X, see the Makefile),
// which needs a variable; nothing changes it at run time.
var Version = "0.1.0-dev"

// groupAnnotation puts the containers of one pod in one shim.
const groupAnnotation = "io.kubernetes.cri.sandbox-id"

// initPidFile records the init's pid in the bundle for the delete action.
const initPidFile = "init.pid"

// defaultSocketDir is where shim sockets go when containerd names no
// directory; it is containerd's own default.
const defaultSocketDir = "/run/containerd/s"

// featuresTypeURL is the typeurl containerd registers for runtime-spec
// Features.
const featuresTypeURL = "types.containerd.io/opencontainers/runtime-spec/1/features/Features"

// manager runs the short-lived shim actions: start, delete and -info.
type manager struct{ name string }

// start launches the long-running shim, or points containerd at the shim
// already serving the container's group.
func (m manager) start(ctx context.Context, params *bootstrap.BootstrapParams) (_ *bootstrap.BootstrapResult, retErr error) {
	id := params.InstanceID
	grouping := id
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := readSpecPart(".", &spec); err == nil {
		if g := spec.Annotations[groupAnnotation]; g != "" {
			grouping = g
		}
	}
	socketDir := params.GetSocketDir()
	if socketDir == "" {
		socketDir = defaultSocketDir
	}
	result := &bootstrap.BootstrapResult{Version: 3, Protocol: "ttrpc"}
	address := socketAddress(socketDir, params.ContainerdGrpcAddress, params.Namespace, grouping)
	listener, err := newSocket(address)
	if err != nil {
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("create shim socket: %w", err)
		}
		if canConnect(address) {
			// The delete action finds the group's socket here too.
			if err := os.WriteFile("address", []byte(address), 0o600); err != nil {
				return nil, err
			}
			result.Address = address
			return result, nil
		}
		if err := removeSocketAddress(address); err != nil {
			return nil, fmt.Errorf("remove stale shim socket: %w", err)
		}
		if listener, err = newSocket(address); err != nil {
			return nil, fmt.Errorf("create shim socket: %w", err)
		}
	}
	defer func() {
		if retErr != nil {
			_ = removeSocketAddress(address)
		}
	}()
	// The daemon gets its own descriptor of the socket; this process's
	// copies go when it exits (closing the listener leaves the path).
	defer listener.Close()
	f, err := listener.File()
	if err != nil {
		return nil, fmt.Errorf("shim socket: %w", err)
	}
	defer f.Close()

	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-namespace", params.Namespace, "-id", id, "-address", params.ContainerdGrpcAddress}
	if params.LogLevel <= bootstrap.LogLevel_LOG_LEVEL_DEBUG {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, args...)
	// One P, whatever containerd asked for (it passes GOMAXPROCS=2 to
	// every shim). The daemon's work is system calls (fork, mount, wait)
	// and waiting on sockets, which hand the P on while they block. A
	// second P keeps two more OS threads alive, each with its own signal
	// stack: about 0.25 MiB of RSS per shim, for nothing make bench can
	// measure.
	cmd.Env = append(withoutEnv(os.Environ(), "GOMAXPROCS"), "GOMAXPROCS=1")
	if params.ContainerdTtrpcAddress != "" {
		cmd.Env = append(cmd.Env, "TTRPC_ADDRESS="+params.ContainerdTtrpcAddress)
	}
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// The daemon outlives this process; Release drops our handle on it so
	// nothing here waits for it.
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	if err := joinShimCgroup(params, pid); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return nil, err
	}
	if err := adjustOOMScore(pid); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return nil, fmt.Errorf("adjust shim oom score: %w", err)
	}
	if err := writePidFile("shim.pid", pid); err != nil {
		return nil, err
	}
	if err := os.WriteFile("address", []byte(address), 0o600); err != nil {
		return nil, err
	}
	result.Address = address
	return result, nil
}

// joinShimCgroup moves the daemon into the cgroup the runtime options name
// (shim_cgroup), as containerd's runc shim does: containerd passes the
// task's options to start as a bootstrap extension.
func joinShimCgroup(params *bootstrap.BootstrapParams, pid int) error {
	group, err := shimCgroup(params)
	if err != nil || group == "" {
		return err
	}
	cg, err := cgroups.Load(group)
	if err != nil {
		return fmt.Errorf("shim cgroup %s: %w", group, err)
	}
	if err := cg.Add(pid); err != nil {
		return fmt.Errorf("join shim cgroup %s: %w", group, err)
	}
	return nil
}

// shimCgroup is the shim_cgroup of the runc options among the bootstrap
// extensions, "" if none names one.
func shimCgroup(params *bootstrap.BootstrapParams) (string, error) {
	var opts runcoptions.Options
	found, err := params.FindExtension(&opts)
	if err != nil {
		return "", fmt.Errorf("runtime options: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if !found {
		return "", nil
	}
	return opts.ShimCgroup, nil
}

// stop cleans up after a shim that is gone: it kills what is left in the
// container's cgroup, unmounts the rootfs and removes the cgroup. Running it
// twice does no harm, and it always answers.
func (m manager) stop(ctx context.Context, bundle, id string) *taskapi.DeleteResponse {
	if bundle == "" {
		if cwd, err := os.Getwd(); err == nil {
			bundle = filepath.Join(filepath.Dir(cwd), id)
		}
	}
	// No reaper runs in this short-lived action: the poststop hooks are
	// waited for directly.
	if err := runtime.Cleanup(ctx, bundle, id, nil, process.Cgroups()); err != nil {
		log.G(ctx).WithError(err).Warn("cleaning up container")
	}
	if err := mount.UnmountRecursive(filepath.Join(bundle, "rootfs")); err != nil {
		log.G(ctx).WithError(err).Warn("unmount rootfs")
	}
	removeDeadSocket(ctx, bundle)
	pid := 0
	if b, err := os.ReadFile(filepath.Join(bundle, initPidFile)); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	return &taskapi.DeleteResponse{Pid: uint32(pid), ExitStatus: 128 + uint32(syscall.SIGKILL), ExitedAt: timestamppb.New(time.Now())}
}

// removeDeadSocket removes the shim socket the bundle names if nothing
// listens on it any more: a daemon killed outright leaves its socket file,
// which nothing else would remove. A socket still served (the shim of the
// rest of a pod) stays.
func removeDeadSocket(ctx context.Context, bundle string) {
	b, err := os.ReadFile(filepath.Join(bundle, "address"))
	if err != nil {
		return
	}
	address := string(b)
	if canConnect(address) {
		return
	}
	if err := removeSocketAddress(address); err != nil {
		log.G(ctx).WithError(err).Warn("remove the dead shim's socket")
	}
}

// runtimeInfo is the -info answer: raind's name, version and features.
func runtimeInfo(name string) ([]byte, error) {
	b, err := json.Marshal(Features())
	if err != nil {
		return nil, fmt.Errorf("marshal features: %w", err)
	}
	info := &types.RuntimeInfo{
		Name:     name,
		Version:  &types.RuntimeVersion{Version: Version},
		Features: &anypb.Any{TypeUrl: featuresTypeURL, Value: b},
	}
	b, err = proto.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("marshal runtime info: %w", err)
	}
	return b, nil
}

// socketAddress names the shim socket after containerd's address, the
// namespace and the group, so that every container of a pod finds the same
// shim and two containerds never share one.
func socketAddress(dir, containerdAddress, namespace, group string) string {
	d := sha256.Sum256([]byte(filepath.Join(containerdAddress, namespace, group)))
	return "unix://" + filepath.Join(dir, hex.EncodeToString(d[:]))
}

func socketPath(address string) string {
	return strings.TrimPrefix(address, "unix://")
}

func newSocket(address string) (*net.UnixListener, error) {
	path := socketPath(address)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("mkdir %s: %w", filepath.Dir(path), err)
	}
	l, err := listenUnix(path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return l, nil
}

func removeSocketAddress(address string) error {
	if err := os.Remove(socketPath(address)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func canConnect(address string) bool {
	c, err := dialUnix(socketPath(address))
	if err == nil {
		c.Close()
	}
	return isLive(err)
}

// adjustOOMScore makes the shim a little more killable than containerd, so
// that the OOM killer takes a shim before the daemon that manages them all.
func adjustOOMScore(pid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", os.Getppid()))
	if err != nil {
		return err
	}
	score, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	score = min(score+1, 1000)
	err = os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid), []byte(strconv.Itoa(score)), 0)
	if os.IsPermission(err) && os.Geteuid() != 0 {
		return nil
	}
	return err
}

// writePidFile writes through a rename so that a reader never sees a
// partial pid.
func writePidFile(path string, pid int) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Features lists the runtime-spec features raind implements today.
func Features() *features.Features { return runtime.Features() }

// withoutEnv returns env without the entries for key.
func withoutEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}
