// Command attachclient is a containerd Go client for the integration
// tests: it attaches to the stdio of a running task and copies its output
// to stdout until it is killed. The tests kill it with SIGKILL mid-stream,
// as a client that vanishes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

func main() {
	address := flag.String("address", "", "containerd socket")
	namespace := flag.String("namespace", "", "containerd namespace")
	id := flag.String("id", "", "container id")
	tty := flag.Bool("tty", false, "the task has a terminal")
	flag.Parse()
	if err := attach(*address, *namespace, *id, *tty); err != nil {
		fmt.Fprintln(os.Stderr, "attachclient:", err)
		os.Exit(1)
	}
}

func attach(address, namespace, id string, tty bool) error {
	c, err := containerd.New(address)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), namespace)
	ctr, err := c.LoadContainer(ctx, id)
	if err != nil {
		return err
	}
	opts := []cio.Opt{cio.WithStreams(nil, os.Stdout, os.Stdout)}
	if tty {
		opts = append(opts, cio.WithTerminal)
	}
	task, err := ctr.Task(ctx, cio.NewAttach(opts...))
	if err != nil {
		return err
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	<-ch
	return nil
}
