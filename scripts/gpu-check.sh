#!/usr/bin/env bash
# make gpu-check: probe the accelerators, transcode a generated 1080p clip
# through every accelerated path this machine has and through the CPU path,
# validate each output with the test suite's HLS checks (internal/hlscheck),
# and print fps per path next to the CPU's. No network; under 5 minutes.
#
# Exit 0: every available path passed (on a machine without a GPU: only the
# CPU path ran, and the script says "no GPU: only cpu path"). Exit 1: a
# path failed. GPU_CHECK_SECONDS sets the clip length (default 8).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -mod=readonly"
mkdir -p bin
go build -o bin/hlsfleet ./cmd/hlsfleet

echo "== accelerators (hlsfleet probe --accel)"
bin/hlsfleet probe --accel
summary="$(bin/hlsfleet probe --accel --json | sed -n 's/^  "summary": "\(.*\)",$/\1/p')"

echo "== transcode + validate per path (go test -tags gpu -run TestGPUPaths ./pipeline)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
timeout 270 go test -tags gpu -count=1 -timeout 260s -run '^TestGPUPaths$' -v ./pipeline >"$log" 2>&1
rc=$?
set -e
# The table, the per-path results and any failure detail.
grep -E '^(path |cpu |nvidia|vaapi|qsv|\(1080p)|--- (PASS|FAIL|SKIP)|_test.go:[0-9]+:|^(ok|FAIL)\b' "$log" | grep -v '^=== ' || true
if [ "$rc" -ne 0 ]; then
	echo "gpu-check: FAILED (exit $rc); full log:" >&2
	tail -n 80 "$log" >&2
	exit 1
fi
if [ "$summary" = "no GPU: only cpu path" ]; then
	echo "gpu-check: no GPU: only cpu path (CPU path checked; nothing accelerated to compare)"
else
	echo "gpu-check: passed ($summary)"
fi
