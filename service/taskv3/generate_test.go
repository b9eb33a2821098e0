package taskv3

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedCodeIsCurrent regenerates the package into a temporary
// directory and compares: a change of go.mod's containerd api, protobuf or
// ttrpc version, or of the generator, must come with regenerated code.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the protoc plugins")
	}
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc not installed (hack/install-deps.sh installs it)")
	}
	out := t.TempDir()
	cmd := exec.Command("../../hack/gen-taskv3.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen-taskv3.sh: %v\n%s", err, b)
	}
	generated, err := filepath.Glob(filepath.Join(out, "service/taskv3/*.go"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("nothing generated (%v)", err)
	}
	committed, err := filepath.Glob("*.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(committed) != len(generated) {
		t.Errorf("%d generated files, %d in the package", len(generated), len(committed))
	}
	for _, g := range generated {
		want, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Base(g))
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(g), err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what hack/gen-taskv3.sh generates: run go generate ./service/taskv3", filepath.Base(g))
		}
	}
}
