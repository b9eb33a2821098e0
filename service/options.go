package service

import (
	"fmt"
	"strings"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/errdefs"
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
}

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
	case o.SystemdCgroup:
		return refuse("systemd_cgroup", "the systemd cgroup driver", errdefs.ErrNotImplemented)
	//lint:ignore SA1019 deprecated, but a client may still set them, and raind must not act as if it honoured them
	case o.TaskApiAddress != "" || o.TaskApiVersion != 0:
		return refuse("task_api_address/task_api_version", "raind serves the task API v3 on its own socket", errdefs.ErrInvalidArgument)
	}
	return taskOptions{
		noPivot:      o.NoPivotRoot,
		noNewKeyring: o.NoNewKeyring,
		ioUID:        o.IoUid,
		ioGID:        o.IoGid,
		shimCgroup:   o.ShimCgroup,
	}, nil
}
