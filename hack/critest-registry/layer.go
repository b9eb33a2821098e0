package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// file is one entry of an image's own layer.
type file struct {
	path     string // relative to /
	mode     int64  // tar's: permissions with the setuid bit as 0o4000
	data     string
	dir      bool
	fromNNP  bool // the -nnp binary, owned by root
	uid, gid int
}

// epoch is every entry's time, so that layers (and digests) are the same
// at every build.
var epoch = time.Unix(0, 0)

// newBuilder reads what every image shares. busybox, when not empty,
// replaces the rootfs's bin/busybox, and libs (host paths) are added at
// the same paths: see hack/critest.sh for why.
func newBuilder(rootfs, nnpPath, busybox string, libs []string) (*builder, error) {
	nnp, err := os.ReadFile(nnpPath)
	if err != nil {
		return nil, fmt.Errorf("read the nonewprivs program: %w", err)
	}
	replace := map[string]string{"etc/passwd": busyboxPasswd, "etc/group": busyboxGroup}
	if busybox != "" {
		b, err := os.ReadFile(busybox)
		if err != nil {
			return nil, fmt.Errorf("read -busybox: %w", err)
		}
		replace["bin/busybox"] = string(b)
	}
	var extra []file
	for _, l := range libs {
		b, err := os.ReadFile(l) // through symlinks: the library itself
		if err != nil {
			return nil, fmt.Errorf("read -lib: %w", err)
		}
		extra = append(extra, file{path: strings.TrimPrefix(filepath.Clean(l), "/"), mode: 0o755, data: string(b)})
	}
	layer, err := dirLayer(rootfs, replace, extra)
	if err != nil {
		return nil, fmt.Errorf("layer of %s: %w", rootfs, err)
	}
	return &builder{base: layer, nnp: nnp}, nil
}

// dirLayer is a layer of the tree at root, in name order, with numeric
// owners and times of epoch; files named in replace get that content,
// and the files in extra follow.
func dirLayer(root string, replace map[string]string, extra []file) (v1.Layer, error) {
	var paths []string
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	// bin/busybox first in bin/: the applets are links to it (addPath),
	// and a hard link must follow its target in a tar.
	bb := filepath.Join(root, "bin", "busybox")
	if i := slices.Index(paths, bb); i >= 0 {
		paths = slices.Delete(paths, i, i+1)
		j := slices.Index(paths, filepath.Join(root, "bin")) + 1
		paths = slices.Insert(paths, j, bb)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, p := range paths {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil, err
		}
		rel = filepath.ToSlash(rel)
		if err := addPath(tw, p, rel, replace); err != nil {
			return nil, err
		}
		dirs[rel] = true // a file's name too: parents never writes it as a directory
	}
	if err := writeFiles(tw, extra, nil, dirs); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return bytesLayer(buf.Bytes())
}

func addPath(tw *tar.Writer, p, rel string, replace map[string]string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&os.ModeSymlink != 0 {
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() && fi.Mode()&os.ModeSymlink == 0 {
		return fmt.Errorf("%s: not a file, directory or symlink", p)
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = rel
	// busybox's applets are hard links in the busybox images critest's
	// come from, and the tests count on it: masking /bin/ls must not mask
	// /bin/busybox, which a bind mount over a symlink would.
	if fi.Mode()&os.ModeSymlink != 0 && (link == "busybox" || link == "/bin/busybox") {
		hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeLink, "bin/busybox", 0o755
	}
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = epoch, time.Time{}, time.Time{}
	hdr.Uname, hdr.Gname = "", ""
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	}
	hdr.Format = tar.FormatPAX
	content, replaced := replace[rel]
	if replaced {
		hdr.Size = int64(len(content))
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	switch {
	case replaced:
		_, err = io.WriteString(tw, content)
		return err
	case fi.Mode().IsRegular():
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	}
	return nil
}

// filesLayer is a layer of files, with their parent directories.
func filesLayer(files []file, nnp []byte) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := writeFiles(tw, files, nnp, map[string]bool{}); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return bytesLayer(buf.Bytes())
}

// writeFiles writes files, and the parents of each not in dirs yet.
func writeFiles(tw *tar.Writer, files []file, nnp []byte, dirs map[string]bool) error {
	for _, f := range files {
		if err := parents(tw, f.path, dirs); err != nil {
			return err
		}
		hdr := &tar.Header{Name: f.path, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: epoch, Format: tar.FormatPAX}
		data := []byte(f.data)
		if f.fromNNP {
			data = nnp
		}
		if f.dir {
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
			dirs[f.path] = true
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !f.dir {
			if _, err := tw.Write(data); err != nil {
				return err
			}
		}
	}
	return nil
}

// parents writes the directories above path not written yet, as root's 0755.
func parents(tw *tar.Writer, path string, done map[string]bool) error {
	dir := filepath.Dir(path)
	if dir == "." || done[dir] {
		return nil
	}
	if err := parents(tw, dir, done); err != nil {
		return err
	}
	done[dir] = true
	return tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
}

func bytesLayer(b []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}
