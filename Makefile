# hlsfleet — see README.md. Every target installs what is missing first.
GO ?= go
BIN := bin

.PHONY: all setup build demo test bench vet clean gpu-check

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

# On a GPU machine: every accelerated path vs CPU on a 1080p clip, validated.
# Without a GPU it checks the CPU path and says "no GPU: only cpu path".
gpu-check: setup
	@scripts/gpu-check.sh

clean:
	rm -rf $(BIN) demo-out
