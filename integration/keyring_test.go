package integration

import (
	"os"
	"strings"
	"testing"
	"time"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// hostKeys is the host's /proc/keys: a container's session keyring shows
// there while one of its processes holds it (the container's own
// /proc/keys is a masked path).
func hostKeys(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/keys")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSessionKeyring: a container's processes are in a session keyring of
// their own (kernel keyrings are not namespaced, and the shim's would be
// shared by every container); the runc options' no_new_keyring keeps the
// inherited one.
func TestSessionKeyring(t *testing.T) {
	_, ctr, _ := runningContainer(t)
	if want := "_ses." + ctr.ID(); !strings.Contains(hostKeys(t), want) {
		t.Errorf("no %s on the host while the container runs", want)
	}

	id := newID("nokeyring")
	startTask(t, testCtx(t, time.Minute), id, &runcoptions.Options{NoNewKeyring: true}, oci.WithProcessArgs("sleep", "1000"))
	if strings.Contains(hostKeys(t), "_ses."+id) {
		t.Errorf("no_new_keyring: the container got its own keyring anyway")
	}
}
