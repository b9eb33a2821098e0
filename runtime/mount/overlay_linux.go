package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// fsconfigMax is the most bytes, with the NUL, fsconfig(2) copies of a string
// value.
const fsconfigMax = 256

// mountLongOverlay mounts an overlay whose options do not fit in the one page
// mount(2) copies: an image with many layers and long snapshot paths.
func mountLongOverlay(m Mount, flags uintptr, point, data string) error {
	opts := splitOverlayData(data)
	if lowerdirAppend() {
		return mountOverlayFS(m, flags, point, opts)
	}
	return mountOverlayRelative(m, flags, point, opts)
}

// lowerdirAppend reports whether overlay takes "lowerdir+" (Linux 6.8). The
// release is the only reliable probe: before 6.5 overlay parses fsconfig
// parameters only at create time, as legacy data limited to a page.
func lowerdirAppend() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return releaseAtLeast(unix.ByteSliceToString(u.Release[:]), 6, 8)
}

// releaseAtLeast compares a kernel release such as "6.8.0-31-generic" with
// major.minor; what it cannot read counts as older.
func releaseAtLeast(release string, major, minor int) bool {
	maj, rest, _ := strings.Cut(release, ".")
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		rest = rest[:i]
	}
	ma, err1 := strconv.Atoi(maj)
	mi, err2 := strconv.Atoi(rest)
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// mountOverlayFS mounts through the new mount API, where every parameter is
// its own call and each layer its own "lowerdir+": no page limit applies.
func mountOverlayFS(m Mount, flags uintptr, point string, opts []string) error {
	fs, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return newError("mount (fsopen)", m, point, err)
	}
	defer unix.Close(fs)
	fail := func(op string, err error) error {
		e := newError(op, m, point, err)
		e.detail = fsLog(fs)
		return e
	}
	setString := func(key, value string) error {
		if err := unix.FsconfigSetString(fs, key, value); err != nil {
			return fail(fmt.Sprintf("mount (fsconfig %s=%q)", key, value), err)
		}
		return nil
	}
	// A layer path too long for fsconfig goes in as a magic link to an open
	// descriptor: overlay resolves layers when they are set, and follows it.
	setLayer := func(key, path string) error {
		if len(path) < fsconfigMax {
			return setString(key, path)
		}
		fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail(fmt.Sprintf("mount (open %s %q)", key, path), err)
		}
		defer unix.Close(fd)
		return setString(key, "/proc/thread-self/fd/"+strconv.Itoa(fd))
	}

	if m.Source != "" {
		if err := setString("source", m.Source); err != nil {
			return err
		}
	}
	last := lastLowerdir(opts)
	for i, o := range opts {
		key, value, hasValue := strings.Cut(o, "=")
		switch {
		case key == "":
			// mount(2) skips these too.
		case key == "lowerdir" && hasValue:
			if i != last {
				continue // a later lowerdir replaces it
			}
			layers, err := splitLowerdir(value)
			if err != nil {
				return &mountError{op: "mount", m: m, target: point, err: err, kind: errdefs.ErrInvalidArgument}
			}
			for _, l := range layers {
				key := "lowerdir+"
				if l.data {
					key = "datadir+"
				}
				if err := setLayer(key, l.path); err != nil {
					return err
				}
			}
		case hasValue:
			if err := setString(key, value); err != nil {
				return err
			}
		default:
			if err := unix.FsconfigSetFlag(fs, key); err != nil {
				return fail(fmt.Sprintf("mount (fsconfig %s)", key), err)
			}
		}
	}
	// mount(2) applies these to the superblock as well as to the mount.
	for _, f := range [...]struct {
		ms  uintptr
		key string
	}{{unix.MS_RDONLY, "ro"}, {unix.MS_SYNCHRONOUS, "sync"}, {unix.MS_DIRSYNC, "dirsync"}, {unix.MS_MANDLOCK, "mand"}} {
		if flags&f.ms == 0 {
			continue
		}
		if err := unix.FsconfigSetFlag(fs, f.key); err != nil {
			return fail(fmt.Sprintf("mount (fsconfig %s)", f.key), err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return fail("mount (fsconfig create)", err)
	}
	mnt, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, mountAttrs(flags))
	if err != nil {
		return fail("mount (fsmount)", err)
	}
	defer unix.Close(mnt)
	// T_SYMLINKS: mount(2) follows a symlink at the target, move_mount not
	// unless asked.
	if err := unix.MoveMount(mnt, "", unix.AT_FDCWD, point, unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_SYMLINKS); err != nil {
		return fail("mount (move_mount)", err)
	}
	return nil
}

// mountAttrs translates mount(2) flags into fsmount(2) attributes, atime
// included: strictatime wins over noatime, and relatime is the default, as
// in mount(2).
func mountAttrs(flags uintptr) int {
	var attrs int
	for _, f := range [...]struct {
		ms   uintptr
		attr int
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY}, {unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV}, {unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME}, {unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_NOSYMFOLLOW},
	} {
		if flags&f.ms != 0 {
			attrs |= f.attr
		}
	}
	switch {
	case flags&unix.MS_STRICTATIME != 0:
		attrs |= unix.MOUNT_ATTR_STRICTATIME
	case flags&unix.MS_NOATIME != 0:
		attrs |= unix.MOUNT_ATTR_NOATIME
	}
	return attrs
}

// fsLog drains the messages the kernel queued on a new-mount-API descriptor;
// errno alone does not say which parameter was refused.
func fsLog(fd int) string {
	var msgs []string
	buf := make([]byte, 1024)
	for range 8 { // the kernel keeps at most 8
		n, err := unix.Read(fd, buf)
		if err != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	return strings.Join(msgs, "; ")
}

// mountOverlayRelative is for kernels without "lowerdir+": it does what
// containerd does, naming the layers relative to their common parent and
// mounting from a thread whose working directory is that parent.
func mountOverlayRelative(m Mount, flags uintptr, point string, opts []string) error {
	invalid := func(err error) error {
		return &mountError{op: "mount", m: m, target: point, err: err, kind: errdefs.ErrInvalidArgument}
	}
	last := lastLowerdir(opts)
	if last < 0 {
		return invalid(errors.New("options exceed a page and hold no lowerdir to shorten"))
	}
	layers, err := splitLowerdir(strings.TrimPrefix(opts[last], "lowerdir="))
	if err != nil {
		return invalid(err)
	}
	dir, rel, err := relativeLayers(layers)
	if err != nil {
		return invalid(err)
	}
	short := make([]string, 0, len(opts))
	for i, o := range opts {
		switch {
		case i == last:
			short = append(short, "lowerdir="+joinLayers(rel))
		case strings.HasPrefix(o, "lowerdir="):
			// replaced by the last one anyway
		case strings.HasPrefix(o, "upperdir="), strings.HasPrefix(o, "workdir="):
			if _, v, _ := strings.Cut(o, "="); !strings.HasPrefix(v, "/") {
				return invalid(fmt.Errorf("relative %q would be resolved from %s", o, dir))
			}
			short = append(short, o)
		default:
			short = append(short, o)
		}
	}
	data := strings.Join(short, ",")
	if pagesize := os.Getpagesize(); len(data) >= pagesize {
		return invalid(fmt.Errorf("%d bytes of options even with layers relative to %s, the kernel takes fewer than %d", len(data), dir, pagesize))
	}
	abs, err := filepath.Abs(point)
	if err != nil {
		return invalid(err)
	}
	if op, err := mountFromDir(dir, m.Source, abs, m.Type, flags, data); err != nil {
		return newError(op, m, point, err)
	}
	return nil
}

// mountFromDir calls mount(2) with dir as the working directory of a thread
// made for the purpose: it unshares its filesystem attributes first, so the
// chdir is its own and not the process's. It joins the caller's mount
// namespace if it does not start in it, since the caller may be a thread of
// its own namespace.
func mountFromDir(dir, source, target, fstype string, flags uintptr, data string) (op string, err error) {
	var callerNS unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/mnt", &callerNS); err != nil {
		return "mount (stat mount namespace)", err
	}
	ns, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "mount (open mount namespace)", err
	}
	defer unix.Close(ns)

	onThrowawayThread(func() {
		if err = unix.Unshare(unix.CLONE_FS); err != nil {
			op = "mount (unshare CLONE_FS)"
			return
		}
		var st unix.Stat_t
		if err = unix.Stat("/proc/thread-self/ns/mnt", &st); err != nil {
			op = "mount (stat mount namespace)"
			return
		}
		if st.Dev != callerNS.Dev || st.Ino != callerNS.Ino {
			if err = unix.Setns(ns, unix.CLONE_NEWNS); err != nil {
				op = "mount (join mount namespace)"
				return
			}
		}
		if err = unix.Chdir(dir); err != nil {
			op = "mount (chdir " + strconv.Quote(dir) + ")"
			return
		}
		op = "mount (from " + strconv.Quote(dir) + ")"
		err = unix.Mount(source, target, fstype, flags, data)
	})
	return op, err
}

// onThrowawayThread runs fn on a thread locked to it and never unlocked, so
// that whatever fn changes in the thread (working directory, namespaces)
// dies with it instead of leaking to other goroutines. The main thread is
// never used: it cannot exit, and it is the one /proc/self shows.
func onThrowawayThread(fn func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Holding the main thread here keeps the next goroutine off it.
			onThrowawayThread(fn)
			runtime.UnlockOSThread()
			close(done)
			return
		}
		defer close(done)
		fn()
	}()
	<-done
}

// lastLowerdir returns the index of the lowerdir option that counts (each
// replaces those before it), or -1.
func lastLowerdir(opts []string) int {
	last := -1
	for i, o := range opts {
		if strings.HasPrefix(o, "lowerdir=") {
			last = i
		}
	}
	return last
}

// splitOverlayData splits a data string into options the way overlay does:
// at commas not escaped by a backslash, escapes kept for the options that
// unescape them, empty options dropped.
func splitOverlayData(data string) []string {
	var opts []string
	start := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case ',':
			if i > start {
				opts = append(opts, data[start:i])
			}
			start = i + 1
		}
	}
	if start < len(data) {
		opts = append(opts, data[start:])
	}
	return opts
}

// layer is one lower directory; data marks a data-only layer (after "::").
type layer struct {
	path string
	data bool
}

// splitLowerdir parses a lowerdir value as overlay does: layers separated by
// unescaped ':', data-only layers after "::", backslash escapes removed. It
// refuses what the kernel refuses, so that a value is not accepted here and
// then mean something else as "lowerdir+" calls.
func splitLowerdir(v string) ([]layer, error) {
	if v == "" {
		return nil, nil
	}
	var (
		layers []layer
		cur    strings.Builder
		data   bool
	)
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\':
			// A trailing backslash escapes the end of the string: dropped.
			if i+1 < len(v) {
				i++
				cur.WriteByte(v[i])
			}
			continue
		case c != ':':
			cur.WriteByte(c)
			continue
		}
		next := false
		if i+1 < len(v) && v[i+1] == ':' {
			next = true
			i++
			if i+1 < len(v) && v[i+1] == ':' {
				return nil, errors.New("lowerdir: more than two colons in a row")
			}
		}
		if cur.Len() == 0 {
			return nil, errors.New("lowerdir: empty layer")
		}
		if data && !next {
			return nil, errors.New("lowerdir: a regular layer after a data-only one")
		}
		layers = append(layers, layer{cur.String(), data})
		cur.Reset()
		data = next
	}
	if cur.Len() == 0 {
		return nil, errors.New("lowerdir: empty layer")
	}
	return append(layers, layer{cur.String(), data}), nil
}

// joinLayers is the inverse of splitLowerdir.
func joinLayers(layers []layer) string {
	var b strings.Builder
	for i, l := range layers {
		if i > 0 {
			if l.data {
				b.WriteString("::")
			} else {
				b.WriteByte(':')
			}
		}
		for j := 0; j < len(l.path); j++ {
			switch c := l.path[j]; c {
			case '\\', ':', ',':
				b.WriteByte('\\')
				b.WriteByte(c)
			default:
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// relativeLayers returns the deepest directory holding every layer and the
// layers relative to it. It works on path components, not bytes, so that
// ".../snapshots/1" is not taken for the parent of ".../snapshots/12"; and it
// keeps ".." where it stands, since from dir the kernel resolves the rest
// exactly as it would the whole path.
func relativeLayers(layers []layer) (string, []layer, error) {
	if len(layers) == 0 {
		return "", nil, errors.New("lowerdir: no layers")
	}
	comps := make([][]string, len(layers))
	for i, l := range layers {
		if !strings.HasPrefix(l.path, "/") {
			return "", nil, fmt.Errorf("lowerdir: relative layer %q", l.path)
		}
		for _, c := range strings.Split(l.path, "/") {
			if c != "" && c != "." {
				comps[i] = append(comps[i], c)
			}
		}
	}
	// Each layer keeps at least its last component.
	n := len(comps[0]) - 1
	for _, c := range comps[1:] {
		n = min(n, len(c)-1)
		for j := 0; j < n; j++ {
			if c[j] != comps[0][j] {
				n = j
				break
			}
		}
	}
	if n <= 0 {
		return "", nil, errors.New("lowerdir: layers share no parent directory but /")
	}
	rel := make([]layer, len(layers))
	for i, c := range comps {
		rel[i] = layer{path: strings.Join(c[n:], "/"), data: layers[i].data}
	}
	return "/" + strings.Join(comps[0][:n], "/"), rel, nil
}
