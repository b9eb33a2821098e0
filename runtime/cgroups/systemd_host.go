package cgroups

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	sddbus "github.com/coreos/go-systemd/v22/dbus"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// systemdJobTimeout bounds the wait for systemd to finish starting or
// stopping a unit, as runc's driver does.
const systemdJobTimeout = 30 * time.Second

// systemdHost is how the systemd driver reaches systemd and the cgroup
// files; tests replace each part with a fake.
type systemdHost struct {
	// running fails unless systemd is the init (sd_booted: the
	// directory /run/systemd/system exists).
	running func() error
	// dial connects to systemd's D-Bus API.
	dial func(ctx context.Context) (*sddbus.Conn, error)
	// v2 tells whether the host is cgroup v2 only.
	v2 bool
	// newFS and loadFS create and load the cgroup's files at a
	// directory relative to the hierarchy roots (New and Load's
	// cgroupfs managers).
	newFS  func(dir string, res *specs.LinuxResources) (Manager, error)
	loadFS func(dir string) (Manager, error)
	// unified is the cgroup2 mount of a hybrid host, where systemd
	// tracks its units' processes, or "".
	unified string
	// procDevices is the text of /proc/devices, or an error.
	procDevices func() (string, error)
	timeout     time.Duration
}

// realSystemd is this host's systemd.
func realSystemd() systemdHost {
	h := systemdHost{
		running: func() error {
			fi, err := os.Lstat("/run/systemd/system")
			if err != nil {
				return err
			}
			if !fi.IsDir() {
				return fmt.Errorf("/run/systemd/system is not a directory")
			}
			return nil
		},
		// The system bus, or as root systemd's private socket when
		// there is no bus daemon.
		dial:    sddbus.NewWithContext,
		v2:      unifiedHost(),
		timeout: systemdJobTimeout,
		procDevices: func() (string, error) {
			b, err := os.ReadFile("/proc/devices")
			return string(b), err
		},
	}
	if h.v2 {
		h.newFS = func(dir string, res *specs.LinuxResources) (Manager, error) {
			return newV2(unifiedMountpoint, dir, res)
		}
		h.loadFS = func(dir string) (Manager, error) { return loadV2(unifiedMountpoint, dir) }
		return h
	}
	h.newFS = func(dir string, res *specs.LinuxResources) (Manager, error) {
		subs, err := v1Subsystems()
		if err != nil {
			return nil, err
		}
		return newV1(subs, dir, res)
	}
	h.loadFS = func(dir string) (Manager, error) {
		subs, err := v1Subsystems()
		if err != nil {
			return nil, err
		}
		return loadV1(subs, dir)
	}
	if _, err := os.Stat(filepath.Join(unifiedMountpoint, "unified", "cgroup.procs")); err == nil {
		h.unified = filepath.Join(unifiedMountpoint, "unified")
	}
	return h
}

// notRunning is the error of a driver that cannot reach systemd.
func notRunning(err error) error {
	return fmt.Errorf("systemd cgroup driver: systemd is not running (%v): %w", err, errdefs.ErrFailedPrecondition)
}

// connect checks that systemd runs and connects to it.
func (h systemdHost) connect(ctx context.Context) (*sddbus.Conn, error) {
	if err := h.running(); err != nil {
		return nil, notRunning(err)
	}
	conn, err := h.dial(ctx)
	if err != nil {
		return nil, notRunning(fmt.Errorf("connect to its D-Bus API: %w", err))
	}
	return conn, nil
}

// systemdVersion asks systemd its version; 0 if it does not say, which
// leaves out every property of a later version.
func systemdVersion(ctx context.Context, conn *sddbus.Conn) int {
	v, err := conn.GetManagerProperty("Version")
	if err != nil {
		return 0
	}
	return parseSystemdVersion(v)
}

// parseSystemdVersion takes the number at the start of a version string
// as D-Bus renders it: `"255.4-1"`, `"v245"`.
func parseSystemdVersion(v string) int {
	v = strings.TrimLeft(v, `"v`)
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(v[:end])
	if err != nil {
		return 0
	}
	return n
}
