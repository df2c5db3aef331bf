# hlsfleet — see README.md. Every target installs what is missing first.
GO ?= go
BIN := bin

.PHONY: all setup build demo test bench vet clean

all: build

setup:
	@scripts/setup.sh

build: setup
	$(GO) build -o $(BIN)/hlsfleet ./cmd/hlsfleet

demo: build
	@scripts/demo.sh

vet: setup
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

test: build vet
	@scripts/test.sh

bench: build
	$(GO) run ./bench/transcode -hlsfleet $(BIN)/hlsfleet
	$(GO) run ./bench/fleet -hlsfleet $(BIN)/hlsfleet
	$(GO) run ./bench/live -hlsfleet $(BIN)/hlsfleet

clean:
	rm -rf $(BIN) demo-out
