package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
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
	nnp := filepath.Join(dir, "nnp")
	if err := os.WriteFile(nnp, []byte("\x7fELF fake"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := newBuilder(root, nnp)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
