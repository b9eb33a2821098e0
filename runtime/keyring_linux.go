package runtime

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// sessionKeyring names a container's session keyring. Its processes join
// it, so that keys one container adds (kernel keyrings are not
// namespaced) are not in the session keyring of the shim, which every
// container would otherwise inherit and share. runc does the same unless
// told otherwise (no_new_keyring).
func sessionKeyring(id string) string { return "_ses." + id }

// joinSessionKeyring joins (or creates) the named session keyring; "" keeps
// the current one. A kernel without keyrings (ENOSYS) has nothing to share.
func joinSessionKeyring(name string) error {
	if name == "" {
		return nil
	}
	if _, err := unix.KeyctlJoinSessionKeyring(name); err != nil && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("join session keyring %s: %w", name, err)
	}
	return nil
}
