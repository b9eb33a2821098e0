// Command containerd-shim-raind-v2 is the raind containerd shim. The same
// binary, re-executed, is the init of every container it runs.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"

	"github.com/containerd/containerd/v2/pkg/shim"

	"github.com/raind/raind/runtime"
	_ "github.com/raind/raind/runtime/nsenter"
	"github.com/raind/raind/service"
)

func main() {
	if runtime.IsInit() {
		runtime.InitMain()
	}
	// pkg/shim would print containerd's version; ours is the one that
	// matters to an operator.
	if len(os.Args) == 2 {
		switch os.Args[1] {
		case "-v", "-version", "--version":
			fmt.Printf("%s:\n  Version:  %s\n  Go version: %s\n", filepath.Base(os.Args[0]), service.Version, goruntime.Version())
			return
		}
	}
	service.Register()
	shim.RunShim(context.Background(), service.NewManager("io.containerd.raind.v2"))
}
