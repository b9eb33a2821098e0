package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/raind/raind/runtime/hooks"
	"github.com/raind/raind/runtime/nsenter"
	"github.com/raind/raind/runtime/rootfs"
	"github.com/raind/raind/runtime/security"
)

// IsInit reports whether this process was started by spawn, so main must
// call InitMain instead of doing its usual job.
func IsInit() bool {
	return os.Getenv(nsenter.EnvSyncFD) != ""
}

// InitMain runs in the re-executed binary after the constructor entered the
// namespaces. It prepares the container, waits for start when it is an init,
// and replaces itself with the user's program. It never returns.
func InitMain() {
	// Credentials, capabilities and the final execve act on this thread
	// only; execve from it then makes it the process's sole thread.
	goruntime.LockOSThread()
	// Device nodes and mount points get exactly the modes the spec asks
	// for; the user's umask is set once they are made.
	unix.Umask(0)

	fd, err := strconv.Atoi(os.Getenv(nsenter.EnvSyncFD))
	os.Unsetenv(nsenter.EnvSyncFD)
	if err != nil {
		os.Exit(1)
	}
	f := os.NewFile(uintptr(fd), "sync")
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		os.Exit(1)
	}
	enc := json.NewEncoder(conn)
	fail := func(err error) {
		// A bad seccomp profile, say, is found only here: still the spec's fault.
		_ = enc.Encode(message{Type: msgError, Error: err.Error(), Invalid: errdefs.IsInvalidArgument(err)})
		conn.Close()
		os.Exit(1)
	}
	dec := newDecoder(conn)
	var m message
	if err := dec.Decode(&m); err != nil || m.Type != msgConfig || m.Config == nil {
		fail(fmt.Errorf("reading init config: %v", err))
	}
	cfg := m.Config
	spec, proc, err := decodeConfig(cfg)
	if err != nil {
		_ = enc.Encode(message{Type: msgError, Error: err.Error(), Invalid: true})
		conn.Close()
		os.Exit(1)
	}
	if cfg.Terminal != nil {
		proc.Terminal = *cfg.Terminal
	}

	attrs, err := attrsFor(cfg, spec)
	if err != nil {
		fail(err)
	}
	// Seccomp (seccomp_init_linux.go): compiled first, so that a bad
	// profile fails Create before anything is set up; loaded in prepare.
	sc, err := compileSeccomp(cfg, spec, conn, dec)
	if err != nil {
		fail(err)
	}
	path, err := prepare(&initSync{enc: enc, dec: dec}, cfg, spec, proc, sc, attrs)
	if err != nil {
		fail(err)
	}
	if !cfg.Exec {
		if err := enc.Encode(message{Type: msgReady}); err != nil {
			os.Exit(1)
		}
		// Create and Start are separate requests: the container exists,
		// fully prepared, but runs nothing of the user's until start.
		if err := dec.Decode(&m); err != nil || m.Type != msgStart {
			os.Exit(1)
		}
		// In the container, as its user with its capabilities (runc runs
		// them there, after the switch of credentials), with the process's
		// environment unless the hook has its own.
		if spec.Hooks != nil {
			if err := hooks.RunAll(context.Background(), hooks.Direct{}, "startContainer", spec.Hooks.StartContainer,
				hookState(cfg, spec, specs.StateCreated), hooks.Options{DefaultEnv: proc.Env}); err != nil {
				fail(err)
			}
		}
	}
	fail(execProcess(proc, path, attrs, sc))
}

// initSync is the init's end of the sync socket after the config.
type initSync struct {
	enc *json.Encoder
	dec *json.Decoder
}

// runtimeHooks stops the init until the runtime has run the prestart and
// createRuntime hooks.
func (s *initSync) runtimeHooks() error {
	if err := s.enc.Encode(message{Type: msgHooks}); err != nil {
		return fmt.Errorf("ask for the createRuntime hooks: %w", err)
	}
	var m message
	if err := s.dec.Decode(&m); err != nil {
		return fmt.Errorf("waiting for the createRuntime hooks: %w", err)
	}
	if m.Type != msgHooksDone {
		return fmt.Errorf("unexpected message %q while waiting for the createRuntime hooks", m.Type)
	}
	return nil
}

// hookState is the state a hook run by the init gets.
func hookState(cfg *initConfig, spec *specs.Spec, status specs.ContainerState) *specs.State {
	return &specs.State{
		Version:     specs.Version,
		ID:          cfg.ID,
		Status:      status,
		Pid:         cfg.Pid,
		Bundle:      cfg.Bundle,
		Annotations: spec.Annotations,
	}
}

// decodeConfig decodes the spec the caller sent, whole: this process ends
// in execve, so what encoding/json keeps of it goes too (see Config). A
// spec it cannot use is InvalidArgument, which the error message to the
// runtime carries (Invalid).
func decodeConfig(cfg *initConfig) (*specs.Spec, *specs.Process, error) {
	if cfg.Exec {
		var p specs.Process
		if err := json.Unmarshal(cfg.Process, &p); err != nil {
			return nil, nil, fmt.Errorf("process spec: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if len(p.Args) == 0 {
			return nil, nil, fmt.Errorf("process spec: no args: %w", errdefs.ErrInvalidArgument)
		}
		return nil, &p, nil
	}
	var s specs.Spec
	if err := json.Unmarshal(cfg.Spec, &s); err != nil {
		return nil, nil, fmt.Errorf("runtime spec: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if s.Process == nil || len(s.Process.Args) == 0 {
		return nil, nil, fmt.Errorf("runtime spec: no process args: %w", errdefs.ErrInvalidArgument)
	}
	return &s, s.Process, nil
}

// prepare does everything that can fail before the point of no return, so
// that Create reports a bad mount, hook, cwd, user or executable instead
// of Start. Its steps follow runc's (standard_init_linux.go and
// rootfs_linux.go), which is the order containers are written against:
//
//	[oom_score_adj: the constructor, before any namespace; see nsenter]
//	mounts and /dev                          (rootfs.Setup)
//	  prestart, createRuntime hooks (runtime) and createContainer hooks
//	root switch, root propagation
//	  console
//	read-only root, umask
//	hostname, domainname
//	sysctls                                  (before /proc/sys is read-only)
//	read-only paths, masked paths            (rootfs.ProtectPaths)
//	no_new_privs
//	rlimits
//	scheduler, I/O priority, memory policy, AppArmor exec profile
//	seccomp, without no_new_privs            (it needs CAP_SYS_ADMIN then)
//	user, groups, capabilities               (security.Finalize)
//	cwd, executable lookup
//	[ready; start; startContainer hooks: see InitMain]
//	SELinux exec label, personality, final CPU affinity   (execProcess)
//	seccomp, with no_new_privs: as late as possible, just before execve
//
// An exec process joins a finished container and does only the process
// steps: console and everything from no_new_privs on.
func prepare(s *initSync, cfg *initConfig, spec *specs.Spec, proc *specs.Process, sc *initSeccomp, attrs containerAttrs) (string, error) {
	if proc.Terminal && cfg.ConsoleFD != consoleFD {
		return "", errors.New("terminal requested without a console socket")
	}
	if err := joinSessionKeyring(cfg.Keyring); err != nil {
		return "", err
	}
	if !cfg.Exec {
		if err := prepareContainer(s, cfg, spec, proc); err != nil {
			return "", err
		}
	} else {
		if proc.Terminal {
			if err := setupTerminal(proc, false); err != nil {
				return "", err
			}
		}
		setUmask(proc)
	}
	if proc.NoNewPrivileges {
		if err := security.SetNoNewPrivileges(); err != nil {
			return "", err
		}
	}
	if err := security.ApplyRlimits(proc.Rlimits); err != nil {
		return "", err
	}
	if err := applyProcessAttrs(proc, attrs); err != nil {
		return "", err
	}
	// Seccomp without no_new_privs: loading a filter then takes
	// CAP_SYS_ADMIN, so it goes here, before Finalize drops capabilities,
	// as runc does.
	if !proc.NoNewPrivileges {
		if err := sc.load(); err != nil {
			return "", err
		}
	}
	if err := applyProcessAttrs(proc, attrs); err != nil {
		return "", err
	}
	cwd := proc.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !filepath.IsAbs(cwd) {
		return "", fmt.Errorf("cwd %q is not absolute", cwd)
	}
	// As root first, since the user may not reach the cwd's parent; a
	// permission error may be the container user's to pass, after the
	// switch below.
	cdErr := unix.Chdir(cwd)
	if cdErr != nil && !errors.Is(cdErr, unix.EACCES) {
		// chdir itself reports a missing cwd or one that is not a directory.
		return "", fmt.Errorf("cwd %q: %w", cwd, cdErr)
	}
	if err := security.Finalize(proc.User, proc.Capabilities); err != nil {
		return "", err
	}
	if cdErr != nil {
		if err := unix.Chdir(cwd); err != nil {
			return "", fmt.Errorf("cwd %q: %w", cwd, err)
		}
	}
	path, err := lookPath(proc.Args[0], proc.Env)
	if err != nil {
		return "", err
	}
	return path, nil
}

// prepareContainer is an init's part of prepare: the container's file
// system, its names and its kernel settings.
func prepareContainer(s *initSync, cfg *initConfig, spec *specs.Spec, proc *specs.Process) error {
	h := spec.Hooks
	opts := rootfs.Options{
		NoPivot:  cfg.NoPivot,
		MountFDs: cfg.MountFDs,
		// The mounts are there and the host's tree still is: the runtime's
		// hooks may set up the container from outside (a network, a
		// device), the createContainer hooks from inside its namespaces.
		BeforeSwitch: func() error {
			if cfg.RuntimeHooks {
				if err := s.runtimeHooks(); err != nil {
					return err
				}
			}
			if h == nil {
				return nil
			}
			return hooks.RunAll(context.Background(), hooks.Direct{}, "createContainer", h.CreateContainer,
				hookState(cfg, spec, specs.StateCreating), hooks.Options{})
		},
	}
	if proc.Terminal {
		opts.AfterSwitch = func() error { return setupTerminal(proc, true) }
	}
	if err := rootfs.Setup(rootfs.NewLinux(), spec, cfg.Rootfs, opts); err != nil {
		return fmt.Errorf("root filesystem: %w", err)
	}
	// Device nodes and mount points are made; from here on files get the
	// user's umask, as runc sets it once the root is final.
	setUmask(proc)
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("set hostname %q: %w", spec.Hostname, err)
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("set domainname %q: %w", spec.Domainname, err)
		}
	}
	if spec.Linux != nil {
		// Before ProtectPaths: /proc/sys is one of the read-only paths,
		// and every Kubernetes pod sets net.ipv4 sysctls.
		if err := applySysctl(spec.Linux.Sysctl); err != nil {
			return err
		}
	}
	if err := rootfs.ProtectPaths(rootfs.NewLinux(), spec); err != nil {
		return fmt.Errorf("root filesystem: %w", err)
	}
	return nil
}

// setUmask sets the process's umask, 022 unless the spec says otherwise.
func setUmask(proc *specs.Process) {
	umask := 0o022
	if proc.User.Umask != nil {
		umask = int(*proc.User.Umask)
	}
	unix.Umask(umask)
}

// lookPath resolves the program the way execvp would, but with the
// container's PATH rather than ours.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if err := checkExecutable(name); err != nil {
			return "", fmt.Errorf("exec %q: %w", name, err)
		}
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec %q: executable file not found in $PATH", name)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if fi.Mode()&0o111 == 0 {
		return errors.New("permission denied")
	}
	return nil
}

// execProcess is the point of no return: every fd but stdio becomes
// close-on-exec, so nothing of ours (a leaked directory fd is how
// CVE-2024-21626 escaped) reaches the user's program.
func execProcess(proc *specs.Process, path string, attrs containerAttrs, sc *initSeccomp) error {
	if err := closeExtraFDs(); err != nil {
		return err
	}
	if err := beforeExec(proc, attrs); err != nil {
		return err
	}
	// Seccomp with no_new_privs: as late as possible, after the
	// startContainer hooks (as runc loads it), so that the filter covers
	// as little of our own work as it can.
	if proc.NoNewPrivileges {
		if err := sc.load(); err != nil {
			return err
		}
	}
	if err := syscall.Exec(path, proc.Args, proc.Env); err != nil {
		return fmt.Errorf("exec %q: %w", path, err)
	}
	return nil
}

func closeExtraFDs() error {
	err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC; /proc is mounted by now.
	entries, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return fmt.Errorf("mark fds close-on-exec: %v; list fds: %w", err, rerr)
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		unix.CloseOnExec(fd)
	}
	return nil
}
