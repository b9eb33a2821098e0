package runtime

import (
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

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

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
	// for; the user's umask is set just before execve.
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
		_ = enc.Encode(message{Type: msgError, Error: err.Error()})
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

	attrs, err := attrsFor(cfg, spec)
	if err != nil {
		fail(err)
	}
	path, err := prepare(cfg, spec, proc, attrs)
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
	}
	fail(execProcess(proc, path, attrs))
}

// decodeConfig decodes the spec the caller sent, whole: this process ends
// in execve, so what encoding/json keeps of it goes too (see Config).
func decodeConfig(cfg *initConfig) (*specs.Spec, *specs.Process, error) {
	if cfg.Exec {
		var p specs.Process
		if err := json.Unmarshal(cfg.Process, &p); err != nil {
			return nil, nil, fmt.Errorf("process spec: %w", err)
		}
		if len(p.Args) == 0 {
			return nil, nil, errors.New("process spec: no args")
		}
		return nil, &p, nil
	}
	var s specs.Spec
	if err := json.Unmarshal(cfg.Spec, &s); err != nil {
		return nil, nil, fmt.Errorf("runtime spec: %w", err)
	}
	if s.Process == nil || len(s.Process.Args) == 0 {
		return nil, nil, errors.New("runtime spec: no process args")
	}
	return &s, s.Process, nil
}

// prepare does everything that can fail before the point of no return, so
// that Create reports a bad mount, cwd or executable instead of Start.
func prepare(cfg *initConfig, spec *specs.Spec, proc *specs.Process, attrs containerAttrs) (string, error) {
	if !cfg.Exec {
		if err := rootfs.Setup(rootfs.NewLinux(), spec, cfg.Rootfs, rootfs.Options{NoPivot: cfg.NoPivot}); err != nil {
			return "", fmt.Errorf("root filesystem: %w", err)
		}
		if spec.Hostname != "" {
			if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
				return "", fmt.Errorf("set hostname %q: %w", spec.Hostname, err)
			}
		}
		if spec.Domainname != "" {
			if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
				return "", fmt.Errorf("set domainname %q: %w", spec.Domainname, err)
			}
		}
		if spec.Linux != nil {
			if err := applySysctl(spec.Linux.Sysctl); err != nil {
				return "", err
			}
		}
	}
	if proc.Terminal {
		if cfg.ConsoleFD != consoleFD {
			return "", errors.New("terminal requested without a console socket")
		}
		if err := setupTerminal(proc, !cfg.Exec); err != nil {
			return "", err
		}
	}
	if err := security.ApplyRlimits(proc.Rlimits); err != nil {
		return "", err
	}
	if proc.OOMScoreAdj != nil {
		if err := security.SetOOMScoreAdj(*proc.OOMScoreAdj); err != nil {
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
	// chdir itself reports a missing cwd or one that is not a directory.
	if err := unix.Chdir(cwd); err != nil {
		return "", fmt.Errorf("cwd %q: %w", cwd, err)
	}
	return lookPath(proc.Args[0], proc.Env)
}

func applySysctl(sysctl map[string]string) error {
	for k, v := range sysctl {
		if strings.Contains(k, "..") || strings.HasPrefix(k, "/") {
			return fmt.Errorf("sysctl %q: bad name", k)
		}
		p := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
		}
	}
	return nil
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
func execProcess(proc *specs.Process, path string, attrs containerAttrs) error {
	umask := 0o022
	if proc.User.Umask != nil {
		umask = int(*proc.User.Umask)
	}
	unix.Umask(umask)
	if err := closeExtraFDs(); err != nil {
		return err
	}
	if err := beforeExec(proc, attrs); err != nil {
		return err
	}
	if err := security.Finalize(proc.User, proc.Capabilities, proc.NoNewPrivileges); err != nil {
		return err
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
