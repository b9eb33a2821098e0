# raind: containerd-shim-raind-v2
PREFIX ?= /usr/local
CACHE ?= $(HOME)/.cache/raind
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/raind/raind/service.Version=$(VERSION)
SHIM := bin/containerd-shim-raind-v2
DEMO_DIR ?= /tmp/raind-demo
UNIT_PKGS = $(shell $(GO) list ./... | grep -v /integration)

export RAIND_CACHE := $(CACHE)
SHELL := /bin/bash

.PHONY: all build install deps test unit integration demo lint clean

all: build

build:
	CGO_ENABLED=1 $(GO) build -ldflags "$(LDFLAGS)" -o $(SHIM) ./cmd/containerd-shim-raind-v2

install: build
	install -D -m 0755 $(SHIM) $(DESTDIR)$(PREFIX)/bin/containerd-shim-raind-v2

deps:
	hack/deps.sh >/dev/null

test: deps build unit integration

unit:
	$(GO) test -race -count=1 $(UNIT_PKGS)

integration: deps build
	$(GO) test -count=1 -timeout 40m -v ./integration/...

demo: deps build
	hack/demo.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@test -x $(CACHE)/bin/staticcheck || GOBIN=$(CACHE)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	$(CACHE)/bin/staticcheck ./...

clean:
	rm -rf bin
