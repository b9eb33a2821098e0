// Command containerd-shim-raind-v2 is the raind containerd shim. The same
// binary, re-executed, is the init of every container it runs.
package main

import (
	"os"

	"github.com/raind/raind/runtime"
	_ "github.com/raind/raind/runtime/nsenter"
	"github.com/raind/raind/service"
)

func main() {
	if runtime.IsInit() {
		runtime.InitMain()
	}
	os.Exit(service.Run("io.containerd.raind.v2", os.Args[1:]))
}
