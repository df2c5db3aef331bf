#!/usr/bin/env bash
# Runs every test with the real test peers (S3: versitygw, SQS: fauxqs) on
# 127.0.0.1, started here and stopped on exit. Nothing needs AWS.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/peers/imds.sh install # ec2-metadata-mock: tests start their own
scripts/peers/rie.sh install # the Lambda tests start their own emulators
scripts/peers/s3.sh start
scripts/peers/sqs.sh start
trap 'scripts/peers/sqs.sh stop || true; scripts/peers/s3.sh stop || true' EXIT
# fauxqs accepts any credentials, versitygw only its own: S3's env goes last.
eval "$(scripts/peers/sqs.sh env)"
eval "$(scripts/peers/s3.sh env)"
export HLSFLEET_REQUIRE_S3_PEER=1
go test -count=1 -timeout 40m "$@" ./...
