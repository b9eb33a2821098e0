package service

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"

	"github.com/raind/raind/runtime"
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

// initExe is what every container init and exec of this shim executes:
// the init binary, or the shim itself, through a handle that cannot write
// to it (runtime.SealedBinary: a container that gets hold of the file as
// /proc/<pid>/exe must not be able to overwrite it, CVE-2019-5736). Made
// once, with the first container, and held for the shim's life.
func (s *service) initExe() (string, error) {
	s.sealOnce.Do(func() {
		p := s.init
		if p == "" {
			self, err := os.Executable()
			if err != nil {
				s.sealErr = fmt.Errorf("find the shim's binary: %w", err)
				return
			}
			p = self
		}
		s.sealed, s.sealErr = runtime.SealBinary(p)
	})
	if s.sealErr != nil {
		return "", fmt.Errorf("%w: %w", s.sealErr, errdefs.ErrFailedPrecondition)
	}
	return s.sealed.Path(), nil
}
