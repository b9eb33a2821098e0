package service

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
)

func TestReadSpecPart(t *testing.T) {
	dir := t.TempDir()
	var v struct {
		Hostname    string            `json:"hostname"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := readSpecPart(dir, &v); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"ociVersion": "1.2.0", "process": `), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := readSpecPart(dir, &v); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("malformed: %v", err)
	}
	// A spec Create would refuse (a hook) still gives up its annotations.
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"ociVersion": "1.2.0", "process": {"args": ["sh"]}, "hostname": "h",
		"hooks": {"createRuntime": [{"path": "/bin/true"}]}, "annotations": {"io.kubernetes.cri.sandbox-id": "pod"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := readSpecPart(dir, &v); err != nil || v.Hostname != "h" || v.Annotations["io.kubernetes.cri.sandbox-id"] != "pod" {
		t.Fatalf("valid: %+v %v", v, err)
	}
}
