package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBurstIntact writes 8 MiB and exits at once; every byte must arrive.
func TestBurstIntact(t *testing.T) {
	script := `head -c 8388608 /dev/urandom > /tmp/d && sha256sum /tmp/d >&2 && exec cat /tmp/d`
	both(t, nil, nil, []string{"sh", "-c", script}, func(t *testing.T, r result) {
		if r.code != 0 {
			t.Fatalf("exit %d: %q", r.code, r.stderr)
		}
		sum := sha256.Sum256([]byte(r.stdout))
		got := hex.EncodeToString(sum[:])
		want := strings.Fields(r.stderr)
		if len(r.stdout) != 8<<20 || len(want) == 0 || want[0] != got {
			t.Fatalf("received %d bytes with sha256 %s; container says %q", len(r.stdout), got, r.stderr)
		}
	})
}

func TestFileLog(t *testing.T) {
	log := filepath.Join(t.TempDir(), "ctr.log")
	r := ctrRun(t, []string{"--log-uri", "file://" + log}, "sh", "-c", "echo to-out; echo to-err >&2")
	if r.code != 0 {
		t.Fatalf("exit %d: %q", r.code, r.stderr)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "to-out\n") || !strings.Contains(string(b), "to-err\n") {
		t.Fatalf("log file has %q", b)
	}
}

func TestBinaryLog(t *testing.T) {
	dir := t.TempDir()
	logger := filepath.Join(dir, "logger.sh")
	script := "#!/bin/sh\n" +
		"echo \"$CONTAINER_ID $CONTAINER_NAMESPACE\" > " + dir + "/who\n" +
		"cat <&3 5>&- > " + dir + "/out &\n" +
		"cat <&4 5>&- > " + dir + "/err &\n" +
		"exec 5>&-\nwait\n"
	if err := os.WriteFile(logger, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r := ctrRun(t, []string{"--log-uri", "binary://" + logger}, "sh", "-c", "echo to-out; echo to-err >&2")
	if r.code != 0 {
		t.Fatalf("exit %d: %q", r.code, r.stderr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := os.ReadFile(filepath.Join(dir, "out"))
		errb, _ := os.ReadFile(filepath.Join(dir, "err"))
		who, _ := os.ReadFile(filepath.Join(dir, "who"))
		if string(out) == "to-out\n" && string(errb) == "to-err\n" && strings.HasSuffix(string(who), " "+testNamespace+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("logger got out=%q err=%q who=%q", out, errb, who)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
