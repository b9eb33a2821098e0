package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"time"

	bootstrap "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"
	"github.com/containerd/fifo"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// options are the command line containerd gives every shim action.
type options struct {
	namespace string
	id        string
	socket    string // serve here instead of the inherited fd 3
	bundle    string // the delete action's bundle, when not the cwd
	debug     bool
	version   bool
	info      bool
	action    string
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("containerd-shim-raind-v2", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&o.debug, "debug", false, "")
	fs.BoolVar(&o.version, "v", false, "")
	fs.BoolVar(&o.version, "version", false, "")
	fs.BoolVar(&o.info, "info", false, "")
	fs.StringVar(&o.namespace, "namespace", "", "")
	fs.StringVar(&o.id, "id", "", "")
	fs.StringVar(&o.socket, "socket", "", "")
	fs.StringVar(&o.bundle, "bundle", "", "")
	// Accepted for compatibility with containerd's command line: start
	// takes containerd's addresses from the bootstrap parameters, and
	// events go over ttrpc, never through the publish binary.
	fs.String("address", "", "")
	fs.String("publish-binary", "", "")
	fs.String("debug-socket", "", "")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.action = fs.Arg(0)
	return o, nil
}

// Run is the shim's main: the start, delete, -info and -v actions, or the
// long-running daemon. It returns the process exit code.
func Run(name string, args []string) int {
	o, err := parseOptions(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	if err := run(name, o); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v", name, err)
		return 1
	}
	return 0
}

func run(name string, o options) error {
	ctx := log.WithLogger(context.Background(), log.G(context.Background()).WithField("runtime", name))
	switch {
	case o.version:
		fmt.Printf("%s:\n  Version:  %s\n  Go version: %s\n", filepath.Base(os.Args[0]), Version, goruntime.Version())
		return nil
	case o.info:
		_, _ = io.Copy(io.Discard, io.LimitReader(os.Stdin, 1<<20))
		b, err := runtimeInfo(name)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(b)
		return err
	}
	if o.namespace == "" {
		return errors.New("shim namespace cannot be empty")
	}
	m := manager{name: name}
	switch o.action {
	case "start":
		input, err := io.ReadAll(io.LimitReader(os.Stdin, 10<<20))
		if err != nil {
			return fmt.Errorf("read bootstrap parameters: %w", err)
		}
		params, err := decodeBootstrap(input, o)
		if err != nil {
			return err
		}
		result, err := m.start(ctx, params)
		if err != nil {
			return err
		}
		return writeMessage(result)
	case "delete":
		resp := m.stop(ctx, o.bundle, o.id)
		return writeMessage(resp)
	case "":
		return serveDaemon(ctx, o)
	}
	return fmt.Errorf("unknown action %q", o.action)
}

// decodeBootstrap decodes the start action's bootstrap parameters, which
// must name the container of the command line.
func decodeBootstrap(input []byte, o options) (*bootstrap.BootstrapParams, error) {
	var params bootstrap.BootstrapParams
	if err := proto.Unmarshal(input, &params); err != nil {
		return nil, fmt.Errorf("bootstrap parameters: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if params.InstanceID != o.id || params.Namespace != o.namespace {
		return nil, fmt.Errorf("bootstrap parameters (%s/%s) do not match the command line (%s/%s): %w",
			params.Namespace, params.InstanceID, o.namespace, o.id, errdefs.ErrInvalidArgument)
	}
	return &params, nil
}

// idleCollectDelay is how long the daemon waits after its last request or
// exit before it collects garbage.
const idleCollectDelay = time.Second

// gcPercent is the daemon's GOGC while it works: the heap is small and the
// shim long-lived, so collect often.
const gcPercent = 40

// idleMemoryLimit bounds the heap while the collector is off (see
// serveDaemon): were anything to allocate while the shim counts as idle,
// the runtime collects as it nears this.
const idleMemoryLimit = 64 << 20

// serveDaemon is the long-running shim: it serves the task API on the
// socket that start bound, reaps children and publishes events until
// Shutdown.
func serveDaemon(ctx context.Context, o options) error {
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(idleMemoryLimit)
	signals := make(chan os.Signal, 32)
	signal.Notify(signals, unix.SIGCHLD, unix.SIGPIPE, unix.SIGTERM, unix.SIGINT, unix.SIGUSR1)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become subreaper: %w", err)
	}
	logger := log.G(ctx)
	if o.debug {
		_ = log.SetLevel("debug")
	}
	// containerd reads the bundle's log FIFO and copies it to its own log.
	if f, err := fifo.OpenFifoDup2(ctx, "log", unix.O_WRONLY, 0o700, int(os.Stderr.Fd())); err == nil {
		logger.Logger.SetOutput(f)
	} else {
		logger.WithError(err).Warn("open shim log")
	}
	ctx = log.WithLogger(ctx, logger.WithField("namespace", o.namespace))

	l, err := listen(o.socket)
	if err != nil {
		return err
	}
	sock := socketOf(l)
	publisher := newPublisher(os.Getenv("TTRPC_ADDRESS"), o.namespace)
	shutdown := make(chan struct{})
	svc, err := newService(ctx, o.namespace, publisher, shutdown)
	if err != nil {
		return err
	}
	server, err := svc.newServer()
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(ctx, l) }()

	// A shim mostly idles, and its RSS is what an operator pays per
	// container. Work comes in bursts (a create, its start, a probe's
	// exec) and leaves garbage that, with a heap this small, no collection
	// would reach for minutes. So once the shim has been quiet for a
	// moment after work, collect and give the freed pages back: a
	// collection of this heap takes well under a millisecond.
	//
	// Then the collector stays off until the next request or exit. An idle
	// shim allocates nothing, and the runtime's forced collection every
	// two minutes would only wake it, thousands of shims on a node, and
	// grow it: each cycle clears and keeps another of the collector's
	// 64 KiB mark-bit arenas (about 0.3 MiB more RSS after a few cycles).
	quiet := time.NewTimer(idleCollectDelay)
	defer quiet.Stop()
	gc := newIdleCollector()
	for done := false; !done; {
		select {
		case <-svc.active:
			gc.busy()
			quiet.Reset(idleCollectDelay)
		case <-quiet.C:
			gc.quiet()
		case s := <-signals:
			switch s {
			case unix.SIGCHLD:
				if err := reaper.Reap(); err != nil {
					log.G(ctx).WithError(err).Error("reap exit status")
				}
			case unix.SIGTERM, unix.SIGINT:
				log.G(ctx).WithField("signal", s).Debug("exit signal")
				done = true
			case unix.SIGUSR1:
				dumpStacks(ctx)
			}
		case <-shutdown:
			done = true
		case err := <-served:
			if err != nil && !errors.Is(err, ttrpc.ErrServerClosed) {
				log.G(ctx).WithError(err).Error("ttrpc server")
			}
			done = true
		}
	}
	// The reply to Shutdown is in flight: let it out before closing.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_ = server.Shutdown(sctx)
	cancel()
	svc.close(5 * time.Second)
	sock.remove()
	return nil
}

// listen returns the socket start bound and passed as fd 3, or binds the
// -socket path.
func listen(path string) (net.Listener, error) {
	if path == "" {
		f := os.NewFile(3, "socket")
		defer f.Close()
		l, err := net.FileListener(f)
		if err != nil {
			return nil, fmt.Errorf("inherited shim socket: %w", err)
		}
		return l, nil
	}
	l, err := listenUnix(path)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// boundSocket is the socket file the daemon serves on, as it was when the
// daemon started: the daemon removes that file as it exits, and not one a
// later shim bound at the same path. Found from the listener itself, it
// does not depend on the bundle, which containerd may remove while the
// daemon is still on its way out (it deletes the bundle of a task it
// reaped as leaked right after Shutdown answers).
type boundSocket struct {
	path string
	fi   os.FileInfo
}

func socketOf(l net.Listener) boundSocket {
	addr, ok := l.Addr().(*net.UnixAddr)
	if !ok || addr.Name == "" || addr.Name[0] == '@' {
		return boundSocket{}
	}
	fi, err := os.Stat(addr.Name)
	if err != nil {
		return boundSocket{}
	}
	return boundSocket{path: addr.Name, fi: fi}
}

// remove removes the socket file if it is still the one the daemon bound.
func (b boundSocket) remove() {
	if b.path == "" {
		return
	}
	if fi, err := os.Stat(b.path); err == nil && os.SameFile(fi, b.fi) {
		_ = os.Remove(b.path)
	}
}

// writeMessage writes an action's answer to containerd on stdout.
func writeMessage(m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	_, err = os.Stdout.Write(b)
	return err
}

func dumpStacks(ctx context.Context) {
	buf := make([]byte, 16<<10)
	for {
		n := goruntime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	log.G(ctx).Infof("=== BEGIN goroutine stack dump ===\n%s\n=== END goroutine stack dump ===", buf)
}
