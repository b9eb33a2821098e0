// Command raind-init is the init of every container and exec that
// containerd-shim-raind-v2 starts, installed beside it. The shim runs it
// with the sync socket in its environment; the C constructor of
// runtime/nsenter has entered the container's namespaces before main. It
// is the shim's own init code (runtime.InitMain) in a binary without the
// shim's libraries, whose package initialisers every start would pay.
package main

import (
	"fmt"
	"os"

	"github.com/raind/raind/runtime"
	_ "github.com/raind/raind/runtime/nsenter"
)

func main() {
	if !runtime.IsInit() {
		fmt.Fprintln(os.Stderr, "raind-init: the container init of containerd-shim-raind-v2; the shim runs it, not a person")
		os.Exit(2)
	}
	runtime.InitMain()
}
