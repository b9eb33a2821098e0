package service

import (
	"fmt"
	"sort"
	"strings"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/errdefs"
	"github.com/raind/raind/runtime/cgroups"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// taskOptions are the runtime options containerd sends with a task. Its
// client sends the runc shim's options type (containerd.runc.v1.Options)
// whatever the runtime; CRI sends the generic runtimeoptions.v1.Options to
// a runtime that is not runc.
type taskOptions struct {
	// noPivot switches the root with MS_MOVE and chroot.
	noPivot bool
	// noNewKeyring keeps the caller's session keyring instead of giving
	// the container one of its own.
	noNewKeyring bool
	// ioUID and ioGID own the stdio FIFOs the process gets, so that a
	// non-root process can reopen /proc/self/fd/1 (or /dev/stdout).
	ioUID, ioGID uint32
	// shimCgroup is the cgroup the shim itself joins (start action).
	shimCgroup string
	// cgroupDriver is the runc options' systemd_cgroup: driverSystemd
	// or driverCgroupfs; "" when the client sent no runc options (CRI
	// sends a runtime that is not runc its generic options), and then
	// the cgroupsPath alone picks the driver.
	cgroupDriver string
}

const (
	driverSystemd  = "systemd"
	driverCgroupfs = "cgroupfs"
)

// parseTaskOptions decodes the options of a Create request or of the
// start action's bootstrap extension. nil is no options.
func parseTaskOptions(a *anypb.Any) (taskOptions, error) {
	if a == nil || (a.TypeUrl == "" && len(a.Value) == 0) {
		return taskOptions{}, nil
	}
	switch name := a.TypeUrl[strings.LastIndex(a.TypeUrl, "/")+1:]; name {
	case string(proto.MessageName(&runcoptions.Options{})):
		var o runcoptions.Options
		if err := proto.Unmarshal(a.Value, &o); err != nil {
			return taskOptions{}, fmt.Errorf("decode %s: %v: %w", name, err, errdefs.ErrInvalidArgument)
		}
		return fromRuncOptions(&o)
	case string(proto.MessageName(&runtimeoptions.Options{})):
		var o runtimeoptions.Options
		if err := proto.Unmarshal(a.Value, &o); err != nil {
			return taskOptions{}, fmt.Errorf("decode %s: %v: %w", name, err, errdefs.ErrInvalidArgument)
		}
		// TypeUrl only names the type CRI decoded the runtime's
		// options table into. A config file, though, would be a
		// promise: raind reads none, so it must not pretend to.
		if o.ConfigPath != "" || len(o.ConfigBody) > 0 {
			return taskOptions{}, fmt.Errorf("runtime options: config_path %q / config_body: raind reads no runtime configuration file: %w", o.ConfigPath, errdefs.ErrInvalidArgument)
		}
		return taskOptions{}, nil
	default:
		return taskOptions{}, fmt.Errorf("runtime options of type %q: raind takes %s or %s: %w", a.TypeUrl,
			proto.MessageName(&runcoptions.Options{}), proto.MessageName(&runtimeoptions.Options{}), errdefs.ErrInvalidArgument)
	}
}

// fromRuncOptions keeps what the runc shim's options mean without runc and
// refuses, by name, what raind cannot do.
func fromRuncOptions(o *runcoptions.Options) (taskOptions, error) {
	refuse := func(field, why string, kind error) (taskOptions, error) {
		return taskOptions{}, fmt.Errorf("runc options: %s: %s: %w", field, why, kind)
	}
	switch {
	case o.BinaryName != "":
		return refuse("binary_name "+o.BinaryName, "raind runs no runtime binary", errdefs.ErrInvalidArgument)
	case o.Root != "":
		return refuse("root "+o.Root, "raind keeps no runc state directory", errdefs.ErrInvalidArgument)
	case o.CriuImagePath != "" || o.CriuWorkPath != "":
		return refuse("criu_image_path/criu_work_path", "checkpoint and restore", errdefs.ErrNotImplemented)
	//lint:ignore SA1019 deprecated, but a client may still set them, and raind must not act as if it honoured them
	case o.TaskApiAddress != "" || o.TaskApiVersion != 0:
		return refuse("task_api_address/task_api_version", "raind serves the task API v3 on its own socket", errdefs.ErrInvalidArgument)
	}
	driver := driverCgroupfs
	if o.SystemdCgroup {
		driver = driverSystemd
	}
	return taskOptions{
		noPivot:      o.NoPivotRoot,
		noNewKeyring: o.NoNewKeyring,
		ioUID:        o.IoUid,
		ioGID:        o.IoGid,
		shimCgroup:   o.ShimCgroup,
		cgroupDriver: driver,
	}, nil
}

// checkCgroupDriver holds the spec's cgroupsPath to the driver the runc
// options name. The path picks raind's driver (a "slice:prefix:name" path
// is systemd's, cgroups.IsSystemdPath), since CRI cannot send the option
// to a runtime that is not runc; where the client did send it, the path
// must agree with it:
//   - systemd_cgroup with a cgroupfs path is refused, as runc refuses it;
//   - systemd_cgroup without a path is refused: runc would make up
//     system.slice:runc:<id>, but the shim's delete action, which
//     receives no options, could not find that unit again to clean up;
//   - a "slice:prefix:name" path without systemd_cgroup is refused: runc
//     would create a cgroupfs directory of that name, which raind never
//     does, and going through systemd instead would not be what was
//     asked.
//
// With a systemd path, the spec's "org.systemd.property.NAME" annotations,
// which runc adds to the unit's properties, are refused by name: raind
// does not pass them to systemd yet.
func checkCgroupDriver(driver, path string, annotations map[string]string) error {
	systemdPath := cgroups.IsSystemdPath(path)
	if systemdPath {
		for _, k := range sortedAnnotations(annotations) {
			if strings.HasPrefix(k, "org.systemd.property.") {
				return fmt.Errorf("annotation %s: systemd unit properties from annotations: %w", k, errdefs.ErrNotImplemented)
			}
		}
	}
	switch {
	case driver == driverSystemd && path == "":
		return fmt.Errorf("runc options: systemd_cgroup: the spec has no linux.cgroupsPath; give it as \"slice:prefix:name\": %w", errdefs.ErrInvalidArgument)
	case driver == driverSystemd && !systemdPath:
		return fmt.Errorf("runc options: systemd_cgroup: expected linux.cgroupsPath of the form \"slice:prefix:name\", got %q: %w", path, errdefs.ErrInvalidArgument)
	case driver == driverCgroupfs && systemdPath:
		return fmt.Errorf("linux.cgroupsPath %q is a systemd \"slice:prefix:name\" path, but the runc options do not set systemd_cgroup: %w", path, errdefs.ErrInvalidArgument)
	}
	return nil
}

func sortedAnnotations(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
