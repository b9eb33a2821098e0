package service

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
)

func TestReadSpec(t *testing.T) {
	dir := t.TempDir()
	if _, err := readSpec(dir); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"ociVersion": "1.2.0", "process": `), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readSpec(dir); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("malformed: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"ociVersion": "1.2.0", "process": {"args": ["sh"]}, "hostname": "h"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := readSpec(dir)
	if err != nil || s.Hostname != "h" || s.Process.Args[0] != "sh" {
		t.Fatalf("valid: %+v %v", s, err)
	}
}
