// Command critest-registry serves, on a loopback port over plain HTTP, the
// container images that cri-tools' critest pulls, built here from the
// busybox rootfs hack/install-deps.sh makes: no registry is reachable from
// the test machines. `make critest` (hack/critest.sh) starts it and points
// its private containerd's registry hosts (registry.k8s.io, gcr.io,
// k8s.gcr.io) at it.
//
// It owns only the images (images.go) and the registry process; it never
// talks to containerd. The images are rebuilt in memory at every start
// (about a second): their layers are reproducible, so digests are stable.
//
//	critest-registry -rootfs DIR -nnp FILE [-busybox FILE -lib FILE...] -listen 127.0.0.1:0 -addr-file FILE
//	critest-registry -list                     the images, one a line
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	rootfs := flag.String("rootfs", "", "the busybox rootfs directory every image is based on")
	nnp := flag.String("nnp", "", "a static binary printing its effective uid, for the nonewprivs image")
	busybox := flag.String("busybox", "", "a busybox binary to use instead of the rootfs's (see hack/critest.sh)")
	var libs stringList
	flag.Var(&libs, "lib", "a host library the -busybox binary needs, added at the same path (repeatable)")
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	addrFile := flag.String("addr-file", "", "write the bound host:port here once every image is pushed")
	list := flag.Bool("list", false, "print the images (reference, then what it holds) and exit")
	flag.Parse()
	log.SetPrefix("critest-registry: ")
	log.SetFlags(0)

	if *list {
		for _, s := range imageSpecs() {
			fmt.Printf("%s\t%s\n", s.refs[0], s.about)
			for _, r := range s.refs[1:] {
				fmt.Printf("%s\t(the same image)\n", r)
			}
		}
		return
	}
	if *rootfs == "" || *nnp == "" {
		log.Fatal("-rootfs and -nnp are required")
	}
	if err := run(*rootfs, *nnp, *busybox, libs, *listen, *addrFile); err != nil {
		log.Fatal(err)
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func run(rootfs, nnp, busybox string, libs []string, listen, addrFile string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(os.Stderr, "critest-registry: ", 0))), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	addr := ln.Addr().String()
	if err := pushAll(addr, rootfs, nnp, busybox, libs); err != nil {
		_ = srv.Close()
		return err
	}
	if addrFile != "" {
		// Written last and renamed into place: its presence means ready.
		if err := os.WriteFile(addrFile+".new", []byte(addr+"\n"), 0o644); err != nil {
			_ = srv.Close()
			return err
		}
		if err := os.Rename(addrFile+".new", addrFile); err != nil {
			_ = srv.Close()
			return err
		}
	}
	log.Printf("serving %d images on %s", len(imageSpecs()), addr)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-served:
		return err
	case <-sigs:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// pushAll builds every image and pushes it, under each of its names, into
// the registry just started at addr: the registry keeps them in memory.
func pushAll(addr, rootfs, nnp, busybox string, libs []string) error {
	b, err := newBuilder(rootfs, nnp, busybox, libs)
	if err != nil {
		return err
	}
	for _, s := range imageSpecs() {
		img, err := b.build(s)
		if err != nil {
			return fmt.Errorf("build %s: %w", s.refs[0], err)
		}
		for _, r := range s.refs {
			path, err := repoPath(r)
			if err != nil {
				return err
			}
			if err := push(addr, path, img); err != nil {
				return fmt.Errorf("push %s: %w", r, err)
			}
		}
	}
	return nil
}
