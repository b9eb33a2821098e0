package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImagesDistinct: critest removes an image by one name and expects
// every other image it uses to stay, so no two specs may build the same
// image (the same config digest is the same CRI image id).
func TestImagesDistinct(t *testing.T) {
	b := testBuilder(t)
	seen := map[string]string{}
	for _, s := range imageSpecs() {
		img, err := b.build(s)
		if err != nil {
			t.Fatalf("build %s: %v", s.refs[0], err)
		}
		id, err := img.ConfigName()
		if err != nil {
			t.Fatal(err)
		}
		if other, ok := seen[id.String()]; ok {
			t.Errorf("%s and %s are the same image %s", s.refs[0], other, id)
		}
		seen[id.String()] = s.refs[0]
		for _, r := range s.refs {
			if _, err := repoPath(r); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestNNPSetuid: the nonewprivs image's program is root's and setuid, or
// the NoNewPrivs tests cannot tell the two cases apart.
func TestNNPSetuid(t *testing.T) {
	b := testBuilder(t)
	for _, s := range imageSpecs() {
		if s.refs[0] != e2e+"nonewprivs:1.3" {
			continue
		}
		l, err := filesLayer(s.files, b.nnp)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				t.Fatal("no usr/local/bin/nnp in the layer")
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Name != "usr/local/bin/nnp" {
				continue
			}
			if h.Mode != 0o4755 || h.Uid != 0 {
				t.Fatalf("nnp mode %o uid %d, want 4755 and 0", h.Mode, h.Uid)
			}
			body, _ := io.ReadAll(tr)
			if string(body) != string(b.nnp) {
				t.Fatal("nnp content differs from the -nnp file")
			}
			return
		}
	}
	t.Fatal("no nonewprivs image")
}

func testBuilder(t *testing.T) *builder {
	dir := t.TempDir()
	root := testBuilderRoot(t, dir)
	nnp := filepath.Join(dir, "nnp")
	if err := os.WriteFile(nnp, []byte("\x7fELF fake"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := newBuilder(root, nnp, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testBuilderRoot makes a small busybox-like rootfs under dir.
func testBuilderRoot(t *testing.T, dir string) string {
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), []byte("not really busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	// "[" sorts before "busybox".
	for _, applet := range []string{"sh", "["} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestBusyboxHardLinks: the applets are hard links to bin/busybox, after
// it in the layer, as in the busybox images (critest masks /bin/ls and
// expects sh to run still).
func TestBusyboxHardLinks(t *testing.T) {
	b := testBuilder(t)
	rc, err := b.base.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	seenBusybox := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("no bin/[ in the layer")
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Name {
		case "bin/busybox":
			seenBusybox = true
		case "bin/[":
			if h.Typeflag != tar.TypeLink || h.Linkname != "bin/busybox" || !seenBusybox {
				t.Fatalf("bin/[: type %c link %q, busybox before it %v; want a hard link after bin/busybox", h.Typeflag, h.Linkname, seenBusybox)
			}
			return
		}
	}
}

// TestBusyboxReplaced: -busybox replaces bin/busybox (and so every applet
// linked to it) and each -lib lands at its own path.
func TestBusyboxReplaced(t *testing.T) {
	dir := t.TempDir()
	root := testBuilderRoot(t, dir)
	bb := filepath.Join(dir, "busybox-dyn")
	lib := filepath.Join(dir, "lib", "libc.so.6")
	for p, data := range map[string]string{bb: "dynamic busybox", lib: "libc"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := newBuilder(root, bb, bb, []string{lib})
	if err != nil {
		t.Fatal(err)
	}
	got := layerFiles(t, b.base)
	if got["bin/busybox"] != "dynamic busybox" {
		t.Errorf("bin/busybox = %q", got["bin/busybox"])
	}
	if want := strings.TrimPrefix(lib, "/"); got[want] != "libc" {
		t.Errorf("%s = %q, want the -lib file", want, got[want])
	}
}

func layerFiles(t *testing.T, l interface {
	Uncompressed() (io.ReadCloser, error)
}) map[string]string {
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[h.Name] = string(b)
		}
	}
}
