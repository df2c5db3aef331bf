# hlsfleet — see README.md. Every target installs what is missing first.
GO ?= go
BIN := bin
SOAK_MINUTES ?= 10

.PHONY: all setup build demo test bench bench-chunk soak vet clean gpu-check lambda-local

all: build

setup:
	@scripts/setup.sh

build: setup
	$(GO) build -o $(BIN)/hlsfleet ./cmd/hlsfleet
	$(GO) build -o $(BIN)/hlsfleet-lambda ./cmd/hlsfleet-lambda

# The Lambda bootstrap under aws-lambda-rie on 127.0.0.1 with the S3/SQS
# peers; prints a curl command that invokes it with a sample S3 event.
lambda-local: build
	@scripts/lambda-local.sh

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
	$(GO) run ./bench/lambda -hlsfleet $(BIN)/hlsfleet -bootstrap $(BIN)/hlsfleet-lambda
	@if [ "$(BENCH_CHUNK)" != 0 ]; then $(MAKE) --no-print-directory bench-chunk; \
	else echo "bench/chunk skipped (BENCH_CHUNK=0); make bench-chunk runs it alone"; fi

# Chunked VOD encoding (issue H) against a single pass: CPU and wall ratios
# and the makespan model; three 3-minute 1080p transcodes, 25-35 minutes on
# 2 cores. Fails at once if the binary cannot chunk.
bench-chunk: build
	$(GO) run ./bench/chunk -hlsfleet $(BIN)/hlsfleet

# The fleet under chaos for SOAK_MINUTES (kill -9, SIGTERM, SIGSTOP, S3
# outages, duplicates, garbage), then lost / torn / wrongly dead-lettered /
# stale-status counts; exits non-zero unless all are 0. `make soak SOAK_MINUTES=30`.
soak: build
	$(GO) run ./bench/soak -hlsfleet $(BIN)/hlsfleet -minutes $(SOAK_MINUTES)

# On a GPU machine: every accelerated path vs CPU on a 1080p clip, validated.
# Without a GPU it checks the CPU path and says "no GPU: only cpu path".
gpu-check: setup
	@scripts/gpu-check.sh

clean:
	rm -rf $(BIN) demo-out
