package service

import (
	"os"
	"path/filepath"
)

// initBinaryName is the container init installed beside the shim
// (cmd/raind-init). It runs the same init code as the shim re-executed,
// but links none of the shim's protocol, message and cgroup libraries, so
// a container or exec start does not pay for their package initialisers
// or for faulting in the larger binary.
const initBinaryName = "raind-init"

// initBinary returns the init beside this executable, or "" when there is
// none (a shim copied on its own): then the shim re-executes itself, which
// runs the same code, only slower to start.
func initBinary() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(self), initBinaryName)
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return ""
	}
	return p
}
