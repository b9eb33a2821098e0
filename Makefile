# raind: containerd-shim-raind-v2
#   make build        the shim and its container init, into bin/ (cgo: they have a C constructor)
#   make install      into $(DESTDIR)$(PREFIX)/bin, where containerd finds it on PATH
#   make test         install-deps, lint, unit tests with -race, a short fuzz run, integration tests, critest (as root)
#   make fuzz         every fuzz target (func FuzzXxx: spec parsing, mount options, log URIs, each task
#                     request, the ttrpc server, runtime options) for FUZZTIME each (default 60s), one after
#                     the other; make fuzz-short, run by make test after unit, gives each FUZZ_SHORT_TIME
#                     (6s; 2m43s in all measured here, most of it building and replaying the cached
#                     corpus). hack/fuzz.sh says more. A failing input lands in the package's
#                     testdata/fuzz/FuzzXxx/ and replays with every unit run.
#   make critest      cri-tools' CRI validation suite with raind (CRITEST_HANDLER="raind runc" compares; README, "CRI validation")
#   make load         the load scenarios at full scale (integration/load_test.go; 20-40 minutes)
#   make unit | fuzz-short | integration | demo | lint | deps | clean
PREFIX ?= /usr/local
CACHE ?= $(HOME)/.cache/raind
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# Static, with Go's own resolver and user lookup: a dynamically linked
# shim maps libc and ld.so into every shim process (about 1 MiB of RSS),
# for the few libc functions the C constructor in runtime/nsenter needs.
LDFLAGS := -X github.com/raind/raind/service.Version=$(VERSION) -linkmode external -extldflags -static
# musl, when it is there (make deps installs musl-tools): a static glibc
# brings 750 KB of code (stdio, locales, the dynamic loader) that the
# constructor never runs, and every shim maps all of it. Recursive (=) so
# that a deps step earlier in the same make run is seen.
SHIM_CC = $(or $(shell command -v musl-gcc 2>/dev/null),$(CC))
TAGS := netgo,osusergo
# libseccomp (runtime/seccomp) for the musl link: Debian ships its header
# and static library for glibc only. The header needs nothing of the C
# library's beyond what musl has, plus the kernel's linux/ and asm/
# headers, which are the same for every C library; the static library's
# only glibc-specific call is satisfied in runtime/seccomp. A directory of
# links to exactly those files is added to musl-gcc's paths, so no other
# glibc header or library can leak into the link.
# CGO_CFLAGS and CGO_LDFLAGS replace cgo's defaults, so the build repeats
# them (-g -O2) next to these paths.
MUSL_SECCOMP := bin/.musl-seccomp
SECCOMP_INC = $(shell pkg-config --variable=includedir libseccomp)
SECCOMP_LIB = $(shell pkg-config --variable=libdir libseccomp)
MULTIARCH = $(shell gcc -print-multiarch)
# No inlining outside the runtime: every shim maps its whole binary, and
# the inlined copies and their inline tables are 150 KB of it (pclntab
# mostly). The shim and the init are syscall-bound; the runtime's
# allocator and scheduler keep their inlining.
GCFLAGS := -gcflags=all=-l -gcflags=runtime=
SHIM := bin/containerd-shim-raind-v2
# The container init, installed beside the shim, which runs it for every
# container and exec (service/initbinary.go).
INIT := bin/raind-init
INTEGRATION_TIMEOUT ?= 40m
# Pinned, so that a new staticcheck release cannot turn main red by itself.
STATICCHECK_VERSION := v0.8.2
# Lazily expanded: only targets that run unit tests pay for `go list`.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v '/integration')

export RAIND_CACHE := $(CACHE)
SHELL := /bin/bash

# Fuzzing time per target: make fuzz, and make test's short run.
FUZZTIME ?= 60s
FUZZ_SHORT_TIME ?= 6s

.PHONY: all build install deps test unit fuzz fuzz-short integration load critest demo lint clean bench

all: build

build:
	@case "$(SHIM_CC)" in *musl-gcc) ;; *) echo "note: musl-gcc not found (apt-get install musl-tools); linking static glibc, a larger shim" >&2;; esac
	@pkg-config --exists libseccomp || { echo "libseccomp not found (apt-get install libseccomp-dev pkg-config, or make deps)" >&2; exit 1; }
	@case "$(SHIM_CC)" in *musl-gcc) \
		rm -rf $(MUSL_SECCOMP) && mkdir -p $(MUSL_SECCOMP)/include $(MUSL_SECCOMP)/lib && \
		ln -s $(SECCOMP_INC)/seccomp.h $(SECCOMP_INC)/seccomp-syscalls.h $(SECCOMP_INC)/linux \
			$(SECCOMP_INC)/asm-generic $(MUSL_SECCOMP)/include/ && \
		ln -s $(SECCOMP_INC)/$(MULTIARCH)/asm $(MUSL_SECCOMP)/include/asm && \
		ln -s $(SECCOMP_LIB)/libseccomp.a $(MUSL_SECCOMP)/lib/;; esac
	CC=$(SHIM_CC) CGO_ENABLED=1 \
	$(if $(findstring musl-gcc,$(SHIM_CC)),CGO_CFLAGS="-g -O2 -I$(CURDIR)/$(MUSL_SECCOMP)/include" CGO_LDFLAGS="-g -O2 -L$(CURDIR)/$(MUSL_SECCOMP)/lib") \
	$(GO) build -trimpath $(GCFLAGS) -tags $(TAGS) -ldflags "$(LDFLAGS)" -o $(SHIM) ./cmd/containerd-shim-raind-v2
	CC=$(SHIM_CC) CGO_ENABLED=1 \
	$(if $(findstring musl-gcc,$(SHIM_CC)),CGO_CFLAGS="-g -O2 -I$(CURDIR)/$(MUSL_SECCOMP)/include" CGO_LDFLAGS="-g -O2 -L$(CURDIR)/$(MUSL_SECCOMP)/lib") \
	$(GO) build -trimpath $(GCFLAGS) -tags $(TAGS) -ldflags "$(LDFLAGS)" -o $(INIT) ./cmd/raind-init

install: build
	install -D -m 0755 $(SHIM) $(DESTDIR)$(PREFIX)/bin/containerd-shim-raind-v2
	install -D -m 0755 $(INIT) $(DESTDIR)$(PREFIX)/bin/raind-init

deps:
	hack/install-deps.sh >/dev/null

# In this order even under -j: deps, lint, unit tests, a short fuzz run,
# integration tests, then critest with raind (a few minutes; docs in the
# README).
test:
	$(MAKE) deps
	$(MAKE) lint
	$(MAKE) unit
	$(MAKE) fuzz-short
	$(MAKE) integration
	$(MAKE) critest CRITEST_HANDLER=raind

unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 $(UNIT_PKGS)

# One target at a time (go test -fuzz takes one), without -race.
fuzz:
	GO=$(GO) hack/fuzz.sh $(FUZZTIME)

fuzz-short:
	GO=$(GO) hack/fuzz.sh $(FUZZ_SHORT_TIME)

# The harness (integration/main_test.go) starts a private containerd; it
# needs root. RAIND_NO_BUILD tells it the shim in bin/ is fresh.
integration: deps build
	@if [ "$$(id -u)" -ne 0 ] && [ "$${RAIND_SKIP_INTEGRATION:-}" != 1 ]; then \
		echo "integration tests need root (or set RAIND_SKIP_INTEGRATION=1 to skip them)" >&2; exit 1; fi
	RAIND_NO_BUILD=1 $(GO) test -v -count=1 -timeout $(INTEGRATION_TIMEOUT) ./integration/...

# The TestLoad* scenarios at full scale (the normal suite runs them small):
# 1,000 create/start/delete cycles in one shim and 300 in a shim each, 100
# containers started 20 at a time, rounds of 200 concurrent execs, 20
# containers writing stdout for 60 s; each holds the host and the shim flat.
load: deps build
	@if [ "$$(id -u)" -ne 0 ]; then echo "load tests need root" >&2; exit 1; fi
	RAIND_LOAD=1 RAIND_NO_BUILD=1 $(GO) test -v -count=1 -run TestLoad -timeout 60m ./integration/

# critest against a private containerd (hack/critest.sh): its own
# registry of locally built images, CNI bridge raindct0. CRITEST_HANDLER
# picks the runtime handlers: raind (default), runc, or "raind runc".
critest: deps build
	@if [ "$$(id -u)" -ne 0 ]; then echo "critest needs root" >&2; exit 1; fi
	CRITEST_HANDLER="$(CRITEST_HANDLER)" hack/critest.sh

CRITEST_HANDLER ?= raind

# Benchmarks: raind against containerd's runc shim + runc, interleaved on
# one private containerd. Prints a markdown table (see BENCHMARKS.md).
bench:
	RAIND_WITH_RUNC=1 hack/install-deps.sh >/dev/null
	$(MAKE) build
	$(GO) test -run XXX -bench . -benchtime 2000x ./io/ ./runtime/
	$(GO) run ./bench

demo: deps build
	hack/demo.sh

lint:
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@$(CACHE)/bin/staticcheck -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION:v%=%))' || \
		{ echo "lint: installing staticcheck $(STATICCHECK_VERSION) into $(CACHE)/bin (about a minute the first time)"; \
		  GOBIN=$(CACHE)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); }
	$(CACHE)/bin/staticcheck ./...

clean:
	rm -rf bin
