package integration

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// remapHost is where nerdctl's --userns-remap puts container root here.
const remapHost = 6 * 65536

// withSubIDs gives user the range remapHost..+65536 in /etc/subuid and
// /etc/subgid for the test, and puts the files back as they were after.
func withSubIDs(t *testing.T, user string) {
	t.Helper()
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		old, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		fi, statErr := os.Stat(f)
		line := fmt.Sprintf("%s:%d:65536\n", user, remapHost)
		if err := os.WriteFile(f, append(append([]byte(nil), old...), line...), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if statErr != nil {
				os.Remove(f)
				return
			}
			if err := os.WriteFile(f, old, fi.Mode().Perm()); err != nil {
				t.Errorf("restore %s: %v", f, err)
			}
		})
	}
}

// TestNerdctlUsernsRemap: nerdctl --userns-remap runs the container as
// root of a user namespace mapped from the user's subordinate ids, on an
// id-mapped (or remapped) snapshot whose files are root's inside.
func TestNerdctlUsernsRemap(t *testing.T) {
	setupNerdctl(t)
	withSubIDs(t, "daemon")
	containerdDirReachable(t)
	out := mustNerdctl(t, "--userns-remap", "daemon", "run", "--rm", "--runtime", nerdctlRuntime(), imageRef,
		"sh", "-c", `cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c '%u:%g' /bin/sh /etc; touch /made && echo made=ok`)
	want := []string{"0", fmt.Sprint(remapHost), "65536", "0", fmt.Sprint(remapHost), "65536", "0", "0:0", "0:0", "made=ok"}
	if got := strings.Fields(out); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("inside: %q, want %v", out, want)
	}
}
