package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// heavy are packages the shim must not link: each one costs every shim
// process start-up time and resident memory (see BENCHMARKS.md), and none
// does a job the shim needs.
var heavy = []string{
	"google.golang.org/grpc",
	"go.opentelemetry.io/",
	"github.com/containerd/ttrpc",
	"github.com/containerd/plugin",
	"github.com/containerd/containerd/v2/pkg/shim",
	"github.com/containerd/typeurl",
	"github.com/containerd/containerd/api/",
	"github.com/containerd/containerd/v2/core/",
	// crypto/sha256 alone links the FIPS 140 module (DRBG, AES, SHA-3);
	// service/sha256.go names the socket.
	"crypto/",
}

// heavySymbols are functions whose presence in the binary means a heavy
// part of a package that must stay linked is back: net's resolver (the DNS
// client, /etc/hosts, nsswitch) comes with net.Listen and net.Dial, which
// service/unixsock.go replaces.
var heavySymbols = []string{
	"net.(*Resolver).",
	"net.(*Dialer).DialContext",
	"net.Listen",
	"vendor/golang.org/x/net/dns/dnsmessage.(*Parser).",
}

// TestNoHeavyDependencies keeps the binary lean: it fails when a change
// pulls one of the heavy packages back in.
func TestNoHeavyDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, h := range heavy {
			if strings.HasPrefix(dep, h) {
				t.Errorf("the shim links %s", dep)
			}
		}
	}
}

// TestNoHeavySymbols checks the linked binary, where dead code is gone:
// net stays imported (go-runc, which the reaper uses, imports it) but only
// its file-descriptor conns may be linked.
func TestNoHeavySymbols(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the shim")
	}
	bin := filepath.Join(t.TempDir(), "shim")
	if out, err := exec.Command("go", "build", "-tags", "netgo,osusergo", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Skipf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Skipf("go tool nm: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		for _, h := range heavySymbols {
			if strings.HasPrefix(f[2], h) {
				t.Errorf("the shim links %s", f[2])
			}
		}
	}
}
